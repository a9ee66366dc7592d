import { open, rename, rm, writeFile } from 'node:fs/promises';
import { Code, notFound, QuarryError } from '../domain/errors.js';
import type { SnapshotId, VolumeId } from '../domain/ids.js';
import { allocatedBytes } from '../host/fallocate.js';
import { faultPoint } from './fault-points.js';
import { type CopyPlan, freezes, planConsistentCopy } from './copy-plan.js';
import { type AfterCopy, withFrozenFilesystem } from './freeze-guard.js';
import { reserveBesideMarker } from './freeze-marker.js';
import { removeFile } from './durable-file.js';
import { noSpace } from './image-file.js';
import { removeObject } from './object-removal.js';
import type { ImagePool } from './image-pool.js';
import type { PreparedRecord } from './record-store.js';
import { RECORD_FORMAT, type SnapshotRecord } from './records.js';

export type NewSnapshot = Pick<SnapshotRecord, 'id' | 'name' | 'sourceVolumeId' | 'parameters' | 'kubernetes'>;

export interface SnapshotCopyOptions {
  /** This host's node ID: a source staged here is frozen for the whole copy (design: Freeze). */
  nodeId?: string;
  /** The kind of process making the copy, recorded with a freeze. */
  holder?: string;
  maxFreezeMs?: number;
  onThawError?: (err: Error) => void;
}

/**
 * Makes a snapshot of a volume in the same pool, never torn (design: Snapshots and clones): a
 * source staged on this host is frozen for the whole copy, a source in use elsewhere is copied
 * only by an atomic reflink, else refused. Crash-safe like volumes: a
 * 'creating' record reserves the name and the space, the image is copied to a
 * partial name, fsynced and renamed, then the record turns 'ready'. A retry after
 * a crash at any step finds the 'creating' record and redoes the copy.
 * Each snapshot owns its image file (reflink or sparse copy), so deleting the
 * source volume later never touches it.
 */
export async function createSnapshot(pool: ImagePool, spec: NewSnapshot, opts: SnapshotCopyOptions = {}): Promise<SnapshotRecord> {
  const sourceImage = pool.volumeImagePath(spec.sourceVolumeId);
  // What an earlier attempt left of the copy; done before anything is reserved or frozen (design: Freeze).
  await rm(pool.snapshotPartialImagePath(spec.id), { force: true });
  const record = await pool.withLock(async () => {
    const existing = await pool.snapshots.read(spec.id);
    if (existing && existing.state !== 'creating') return existing;
    const source = await pool.volumes.read(spec.sourceVolumeId as VolumeId);
    if (source?.state !== 'ready') {
      // A snapshot a crash left half-made, whose source is gone since: drop its reservation.
      if (existing) {
        await rm(pool.snapshotImagePath(spec.id), { force: true });
        await pool.snapshots.remove(spec.id);
      }
      throw notFound(`volume ${spec.sourceVolumeId} does not exist`);
    }
    // Refused before anything is reserved when the copy could not hold one instant of the source.
    const plan = await planConsistentCopy(pool, source, opts.nodeId, 'snapshot', { writeBack: false });
    const reserve = await allocatedBytes(sourceImage);
    const r: SnapshotRecord = {
      ...spec,
      format: RECORD_FORMAT,
      kind: 'snapshot',
      pool: pool.name,
      state: 'creating',
      sizeBytes: source.sizeBytes,
      fsType: source.fsType,
      // A retry copies the source anew, so the snapshot is cut now, whatever an earlier attempt said.
      createdAt: new Date().toISOString(),
      allocatedBytes: reserve,
    };
    // The reservation and the freeze marker are written to temporary files (each fsynced) side by
    // side, while the capacity check runs; the hold then ends with two renames (design: Freeze).
    const reservation = pool.snapshots.prepare(r);
    reservation.catch(() => undefined); // awaited by the commit or the discard below
    try {
      await reserveBesideMarker(
        pool,
        source,
        plan,
        opts,
        // A sparse copy needs the data's bytes free now; a reflink shares them until the source diverges.
        () => pool.ensureRoom(spec.id, reserve, !pool.reflink),
        // Durable before the copy's own fsync; its directory fsync runs during the freeze and the copy.
        async () => pool.snapshots.commit(await reservation, { syncDir: false }),
      );
    } finally {
      const res = await reservation.catch(() => undefined);
      if (res) await pool.snapshots.discard(res);
    }
    return { ...r, plan };
  });
  if (record.state !== 'creating') return record;
  const { plan, ...created } = record as SnapshotRecord & { plan: CopyPlan };
  const recorded = pool.snapshots.sync();
  recorded.catch(() => undefined); // awaited before the copy's fsync; this only keeps an early rejection handled
  faultPoint('create-snapshot:after-record');
  let ready: PreparedRecord<SnapshotRecord> | undefined;
  try {
    await copySnapshotImage(pool, created, sourceImage, { ...plan, recorded }, opts, async () => {
      // The 'ready' record's content is written and fsynced while the image is.
      const held = await allocatedBytes(pool.snapshotPartialImagePath(created.id));
      ready = await pool.snapshots.prepare({ ...created, state: 'ready', allocatedBytes: held });
    });
    faultPoint('create-snapshot:after-image');
    const prepared = ready as PreparedRecord<SnapshotRecord>;
    await pool.withLock(() => pool.snapshots.commit(prepared, { syncDir: false }));
    // One directory fsync for the image's rename and the record's, in that order (design: Freeze).
    await pool.snapshots.sync();
    return prepared.record;
  } finally {
    if (ready) await pool.snapshots.discard(ready);
  }
}

/** `alongsideSync` runs beside the copy's fsync (and the thaw), before the rename. */
async function copySnapshotImage(
  pool: ImagePool,
  record: SnapshotRecord,
  sourceImage: string,
  plan: CopyPlan,
  opts: SnapshotCopyOptions,
  alongsideSync: () => Promise<void>,
) {
  const partial = pool.snapshotPartialImagePath(record.id);
  const finalPath = pool.snapshotImagePath(record.id);
  try {
    // Only the copy itself runs frozen; its fsync, beside the thaw, still comes before the rename.
    // The rename is made durable by the directory fsync after the 'ready' record's rename.
    await copyImageConsistently(
      pool,
      record.sourceVolumeId as VolumeId,
      plan,
      opts,
      sourceImage,
      partial,
      () => rename(partial, finalPath),
      alongsideSync,
    );
  } catch (err) {
    await rm(partial, { force: true });
    if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC' || (err instanceof QuarryError && err.code === Code.RESOURCE_EXHAUSTED)) {
      await pool.withLock(() => pool.snapshots.remove(record.id));
      throw noSpace(`snapshot ${record.name}`);
    }
    throw err;
  }
}

/**
 * Runs a copy of a volume's image as its plan says: under a recorded, bounded freeze, or as it is.
 * After a good copy, `after.whileThawing` runs beside the thaw, then `after.afterThaw`.
 */
export async function copyConsistently(
  pool: ImagePool,
  sourceId: VolumeId,
  plan: CopyPlan,
  opts: SnapshotCopyOptions,
  copy: () => Promise<void>,
  after: AfterCopy<void> = {},
): Promise<void> {
  if (!freezes(plan) || !opts.nodeId) {
    await plan.recorded;
    await copy();
    await after.whileThawing?.();
    await after.afterThaw?.();
    return;
  }
  await withFrozenFilesystem(
    pool,
    sourceId,
    plan,
    { nodeId: opts.nodeId, holder: opts.holder ?? 'controller', maxFreezeMs: opts.maxFreezeMs, onThawError: opts.onThawError },
    copy,
    after,
  );
}

/**
 * Copies a volume's image to `to` as its plan says (design: Freeze): only the copy runs frozen; its
 * fsync runs beside the thaw, and comes before `then` (a rename that publishes the copy, or nothing).
 */
export async function copyImageConsistently(
  pool: ImagePool,
  sourceId: VolumeId,
  plan: CopyPlan,
  opts: SnapshotCopyOptions,
  from: string,
  to: string,
  then?: () => Promise<void>,
  alongsideSync?: () => Promise<void>,
): Promise<void> {
  // What an earlier attempt left at `to` is removed, never written through. The copy's file is then
  // made (empty) while the marker is set and the freeze forks, not inside the frozen window; as a
  // step of the copy, a failure here clears the marker like any failed copy (design: Freeze).
  const made = (async () => {
    await removeFile(to);
    if (plan.freezeMountPath) await writeFile(to, '', { flag: 'wx', mode: 0o600 });
  })();
  made.catch(() => undefined); // awaited by the copy; the callers remove `to` on any error
  const copy = async () => {
    await made;
    await pool.copyImage(from, to, { sync: false });
  };
  await copyConsistently(pool, sourceId, plan, opts, copy, {
    // Both settle before anything goes on, so nothing either leaves behind outlives an error.
    whileThawing: async () => {
      for (const r of await Promise.allSettled([syncFile(to), alongsideSync?.()])) if (r.status === 'rejected') throw r.reason;
    },
    afterThaw: then,
  });
}

async function syncFile(path: string): Promise<void> {
  const fd = await open(path, 'r+');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/**
 * Marks the record 'deleting', removes the image, then the record. Only the
 * snapshot's own files are removed: volumes restored from it own their images.
 */
export async function deleteSnapshot(pool: ImagePool, id: SnapshotId): Promise<void> {
  await removeObject(pool, pool.snapshots, id, [pool.snapshotPartialImagePath(id), pool.snapshotImagePath(id)], {
    faultPrefix: 'delete-snapshot',
  });
}
