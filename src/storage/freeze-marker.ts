/** The freeze marker on the volume's record: set before a freeze, in the reservation's hold or alone, and cleared after the thaw. */
import { notFound } from '../domain/errors.js';
import type { VolumeId } from '../domain/ids.js';
import { type CopyPlan, startWriteBack } from './copy-plan.js';
import { closeFreezer, startFreezer } from './freezer-steps.js';
import type { ImagePool } from './image-pool.js';
import type { PreparedRecord } from './record-store.js';
import { parseRecord } from './record-schema.js';
import type { FreezeRecord, VolumeRecord } from './records.js';

/** The longest a volume's filesystem stays frozen for a copy; past it the copy is given up (design: Freeze). */
export const DEFAULT_MAX_FREEZE_MS = 30_000;

/**
 * The freeze marker's writes skip the directory fsync: a killed process's successor sees the
 * rename (it is in the kernel, not the process), and a host crash thaws everything by itself, so
 * the marker never has to outlive the host (design: Freeze).
 */
const NOT_DURABLE = { syncDir: false } as const;

/** A freeze marker set by the caller in its own hold of the pool lock (prepareMarker, commitMarker). */
export interface MarkedFreeze {
  marker: FreezeRecord;
  /** The volume's record with the marker, as a read of its file returns it: clearing the marker compares against it. */
  record: VolumeRecord;
}

/** The marker for a freeze of `mountPath` taken now; its deadline counts from now. */
export function freezeMarker(opts: { nodeId: string; holder: string; maxFreezeMs?: number }, mountPath: string): FreezeRecord {
  const since = Date.now();
  return {
    nodeId: opts.nodeId,
    mountPath,
    holder: opts.holder,
    since: new Date(since).toISOString(),
    until: new Date(since + (opts.maxFreezeMs ?? DEFAULT_MAX_FREEZE_MS)).toISOString(),
  };
}

/** Who takes a planned freeze: recorded in its marker. */
export interface MarkerOptions {
  /** This host's node ID: without it nothing is frozen here. */
  nodeId?: string;
  /** The kind of process freezing; 'controller' unless told. */
  holder?: string;
  maxFreezeMs?: number;
}

/**
 * The freeze's part of a copy's reservation hold (design: Freeze), for snapshots and clones alike.
 * Call under the pool lock with the source's record as read in this hold, once the caller's own
 * reservation is being written to a temporary file: the source's record with the freeze marker is
 * written to another one beside it, and the write-back forks once both writes are queued (the fork
 * holds the event loop, not the libuv workers). Then `check` (the capacity check) runs while they
 * are written, then `commit` (the reservation's rename), then the marker's rename (plan.marked).
 * A refused check or a failed write renames nothing, and no temporary file of the marker is left.
 * A plan that freezes nothing runs only `check` and `commit`.
 */
export async function reserveBesideMarker<T>(
  pool: ImagePool,
  source: VolumeRecord,
  plan: CopyPlan,
  opts: MarkerOptions,
  check: () => Promise<void>,
  commit: () => Promise<T>,
): Promise<T> {
  const marker =
    plan.freezeMountPath && opts.nodeId
      ? freezeMarker({ nodeId: opts.nodeId, holder: opts.holder ?? 'controller', maxFreezeMs: opts.maxFreezeMs }, plan.freezeMountPath)
      : undefined;
  const markerWrite = marker ? prepareMarker(pool, source, marker) : undefined;
  markerWrite?.catch(() => undefined); // awaited below; handled from now on, whatever comes first
  startWriteBack(plan);
  if (marker) plan.freezer ??= startFreezer(plan.freezeMountPath!, marker.until);
  try {
    await check();
    const prepared = await markerWrite;
    const out = await commit();
    if (prepared) plan.marked = await commitMarker(pool, prepared);
    return out;
  } catch (err) {
    // No freeze follows a refused hold: its freezer ends here.
    await closeFreezer(plan.freezer);
    plan.freezer = undefined;
    throw err;
  } finally {
    const prepared = await markerWrite?.catch(() => undefined);
    if (prepared) await pool.volumes.discard(prepared);
  }
}

/** Writes a volume record carrying `marker` to a temporary file: the caller renames it under its hold (commitMarker). */
function prepareMarker(pool: ImagePool, source: VolumeRecord, marker: FreezeRecord): Promise<PreparedRecord<VolumeRecord>> {
  return pool.volumes.prepare({ ...source, freeze: marker });
}

/** Under the caller's hold of the pool lock: renames a prepared marker into place; made visible, not durable. */
async function commitMarker(pool: ImagePool, prepared: PreparedRecord<VolumeRecord>): Promise<MarkedFreeze> {
  await pool.volumes.commit(prepared, NOT_DURABLE);
  return { marker: prepared.record.freeze!, record: asRead(pool, prepared.record) };
}

/** A record we just wrote, as a read of its file returns it (checked and shaped by the schema), with no read. */
function asRead(pool: ImagePool, v: VolumeRecord): VolumeRecord {
  return parseRecord<VolumeRecord>('volume', v.id, pool.volumes.pathOf(v.id), JSON.stringify(v));
}

/**
 * Clears the marker: the record as it stood with the marker, less the marker, prepared while the
 * thaw runs, is one rename under the lock; a record changed meanwhile loses its marker the long way.
 */
export async function clearMarker(
  pool: ImagePool,
  volumeId: VolumeId,
  marked: MarkedFreeze,
  prepared?: Promise<PreparedRecord<VolumeRecord>>,
) {
  const next = await prepared?.catch(() => undefined);
  try {
    await pool.withLock(async () => {
      const current = await pool.volumes.read(volumeId);
      if (next && current && JSON.stringify(current) === JSON.stringify(marked.record)) {
        await pool.volumes.commit(next, NOT_DURABLE);
        return;
      }
      if (current?.state !== 'ready' || !current.freeze) return;
      const { freeze: _, ...rest } = current;
      await pool.volumes.write(rest, NOT_DURABLE);
    });
  } finally {
    if (next) await pool.volumes.discard(next);
  }
}

/**
 * Sets the marker for a freeze the caller did not mark in its own hold, under the pool lock.
 * Visible to any process at once, but not made durable: a reboot ends every freeze (design: Freeze).
 */
export async function setMarker(pool: ImagePool, volumeId: VolumeId, marker: FreezeRecord): Promise<MarkedFreeze> {
  return pool.withLock(async () => {
    const v = await pool.volumes.read(volumeId);
    if (v?.state !== 'ready') throw notFound(`volume ${volumeId} does not exist`);
    const record = { ...v, freeze: marker };
    await pool.volumes.write(record, NOT_DURABLE);
    return { marker, record: asRead(pool, record) };
  });
}

/** The record as it stood with the marker, less the marker, written to a temporary file for clearMarker. */
export function prepareUnmarked(pool: ImagePool, marked: MarkedFreeze): Promise<PreparedRecord<VolumeRecord>> {
  return pool.volumes.prepare(withoutFreeze(marked.record));
}

function withoutFreeze(v: VolumeRecord): VolumeRecord {
  const { freeze: _, ...rest } = v;
  return rest;
}
