import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Code, notFound, QuarryError } from '../domain/errors.js';
import type { SnapshotId, VolumeId } from '../domain/ids.js';
import { allocatedBytes } from '../host/fallocate.js';
import { freeze, thaw } from '../host/fsfreeze.js';
import { syncDir } from './durable-file.js';
import { faultPoint } from './fault-points.js';
import { noSpace } from './image-file.js';
import { removeObject } from './object-removal.js';
import type { ImagePool } from './image-pool.js';
import { RECORD_FORMAT, type SnapshotRecord } from './records.js';

export type NewSnapshot = Pick<SnapshotRecord, 'id' | 'name' | 'sourceVolumeId' | 'parameters' | 'kubernetes'>;

export interface SnapshotCopyOptions {
  /**
   * Mount point of the source's filesystem on this host, frozen for the instant
   * of a reflink copy. Ignored on pools without reflinks: a long sparse copy
   * under freeze would block the volume's writers for its whole duration.
   */
  freezeMountPath?: string;
}

/**
 * Makes a snapshot of a volume in the same pool. Crash-safe like volumes: a
 * 'creating' record reserves the name and the space, the image is copied to a
 * partial name, fsynced and renamed, then the record turns 'ready'. A retry after
 * a crash at any step finds the 'creating' record and redoes the copy.
 * Each snapshot owns its image file (reflink or sparse copy), so deleting the
 * source volume later never touches it.
 */
export async function createSnapshot(pool: ImagePool, spec: NewSnapshot, opts: SnapshotCopyOptions = {}): Promise<SnapshotRecord> {
  const sourceImage = pool.volumeImagePath(spec.sourceVolumeId);
  const record = await pool.withLock(async () => {
    const existing = await pool.snapshots.read(spec.id);
    if (existing && existing.state !== 'creating') return existing;
    const source = await pool.volumes.read(spec.sourceVolumeId as VolumeId);
    if (!source || source.state !== 'ready') {
      // A snapshot a crash left half-made, whose source is gone since: drop its reservation.
      if (existing) {
        await rm(pool.snapshotPartialImagePath(spec.id), { force: true });
        await rm(pool.snapshotImagePath(spec.id), { force: true });
        await pool.snapshots.remove(spec.id);
      }
      throw notFound(`volume ${spec.sourceVolumeId} does not exist`);
    }
    const reserve = await allocatedBytes(sourceImage);
    // A sparse copy needs the data's bytes free now; a reflink shares them until the source diverges.
    await pool.ensureRoom(spec.id, reserve, !pool.reflink);
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
    await pool.snapshots.write(r);
    return r;
  });
  if (record.state !== 'creating') return record;
  faultPoint('create-snapshot:after-record');
  await copySnapshotImage(pool, record, sourceImage, opts);
  faultPoint('create-snapshot:after-image');
  const held = await allocatedBytes(pool.snapshotImagePath(record.id));
  return pool.withLock(async () => {
    const ready: SnapshotRecord = { ...record, state: 'ready', allocatedBytes: held };
    await pool.snapshots.write(ready);
    return ready;
  });
}

async function copySnapshotImage(pool: ImagePool, record: SnapshotRecord, sourceImage: string, opts: SnapshotCopyOptions) {
  const partial = pool.snapshotPartialImagePath(record.id);
  const finalPath = pool.snapshotImagePath(record.id);
  try {
    await rm(partial, { force: true });
    const frozen = pool.reflink ? opts.freezeMountPath : undefined;
    if (frozen) await freeze(frozen);
    try {
      await pool.copyImage(sourceImage, partial);
    } finally {
      if (frozen) await thaw(frozen);
    }
    await rename(partial, finalPath);
    await syncDir(dirname(finalPath));
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
 * Marks the record 'deleting', removes the image, then the record. Only the
 * snapshot's own files are removed: volumes restored from it own their images.
 */
export async function deleteSnapshot(pool: ImagePool, id: SnapshotId): Promise<void> {
  await removeObject(pool, pool.snapshots, id, [pool.snapshotPartialImagePath(id), pool.snapshotImagePath(id)], {
    faultPrefix: 'delete-snapshot',
  });
}
