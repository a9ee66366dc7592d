/** The frozen window of a copy: marker, freeze, copy, thaw, in an order a killed process can undo (design: Freeze). */
import { aborted } from '../domain/errors.js';
import type { VolumeId } from '../domain/ids.js';
import { freeze, thaw } from '../host/fsfreeze.js';
import { flushAhead, type FreezingPlan } from './copy-plan.js';
import { faultPoint } from './fault-points.js';
import { clearMarker, DEFAULT_MAX_FREEZE_MS, freezeMarker, prepareUnmarked, setMarker } from './freeze-marker.js';
import { checkFreezeTarget, closeFreezer, startFreezer, viaFreezer } from './freezer-steps.js';
import type { ImagePool } from './image-pool.js';
import type { PreparedRecord } from './record-store.js';
import type { VolumeRecord } from './records.js';

/** Who freezes, and for how long at most. What is already under way comes in the plan (CopyPlan). */
export interface FreezeOptions {
  nodeId: string;
  /** The kind of process freezing ('controller', 'node'): one instance of each per node. */
  holder: string;
  maxFreezeMs?: number;
  onThawError?: (err: Error) => void;
}

/** Steps of a good copy that need not wait for the thaw, and the ones that must. */
export interface AfterCopy<T> {
  /** Runs beside the thaw (the copy's fsync, records written to temporary files): nothing here may need the filesystem thawed. */
  whileThawing?: (result: T) => Promise<void>;
  /** Runs once thawed, after whileThawing. */
  afterThaw?: (result: T) => Promise<void>;
}

/**
 * Runs `copy` with the volume's filesystem frozen. The freeze is recorded in the volume's record
 * before it happens and cleared after the thaw, so a process killed in between leaves a record
 * that the next start (or any process's sweep) undoes. A timer thaws it after maxFreezeMs even
 * if the copy hangs; the copy then no longer holds one instant and is failed.
 * `after` is what follows a good copy: `whileThawing` beside the thaw, `afterThaw` once thawed.
 */
export async function withFrozenFilesystem<T>(
  pool: ImagePool,
  volumeId: VolumeId,
  plan: FreezingPlan,
  opts: FreezeOptions,
  copy: () => Promise<T>,
  after: AfterCopy<T> = {},
): Promise<T> {
  const { whileThawing, afterThaw } = after;
  const mountPath = plan.freezeMountPath;
  const maxMs = opts.maxFreezeMs ?? DEFAULT_MAX_FREEZE_MS;
  // The write-back (already under way when the plan started it) overlaps the marker's write. The
  // deadline counts from the marker, so it covers the write-back as it always covered the flush
  // that fsfreeze itself does.
  const flushed = plan.flushed ?? flushAhead(mountPath);
  // Settled at every exit, so no rejection of it goes unhandled; its error is the copy's.
  const recorded = plan.recorded ?? Promise.resolve();
  recorded.catch(() => undefined);
  const marked = plan.marked ?? (await setMarker(pool, volumeId, freezeMarker({ ...opts, maxFreezeMs: maxMs }, mountPath)));
  const since = Date.parse(marked.marker.since);
  faultPoint('freeze:after-record');
  await flushed;
  let expired = false;
  let failure: { err: unknown } | undefined;
  let thawing: Promise<void> | undefined;
  let result!: T;
  let unmarked: Promise<PreparedRecord<VolumeRecord>> | undefined;
  let alongside: Promise<void> = Promise.resolve();
  // Started before the freeze (by the caller's hold, or here), so the thaw waits for no fork;
  // fsfreeze stands in for it whenever it fails (both count the state already reached as done).
  const started = plan.freezer ?? startFreezer(mountPath, marked.marker.until);
  let freezer = started;
  let freezing = false;
  const thawOnce = () => (thawing ??= viaFreezer(freezer, 'thaw', () => thaw(mountPath)));
  try {
    if (plan.freezeMountId !== undefined && !(await checkFreezeTarget(freezer, mountPath, plan.freezeMountId)))
      freezer = Promise.resolve(undefined);
    // From here a thaw is due whatever happens: a freeze that failed may still have taken effect.
    freezing = true;
    await viaFreezer(freezer, 'freeze', () => freeze(mountPath));
    faultPoint('freeze:frozen');
    // At the deadline the record shows, not maxMs after the freeze: past it, any process's sweep may thaw.
    const timer = setTimeout(
      () => {
        expired = true;
        thawOnce().catch((err: Error) => opts.onThawError?.(err));
      },
      Math.max(0, since + maxMs - Date.now()),
    );
    try {
      result = await copy();
      if (expired)
        throw aborted(
          `the copy of volume ${volumeId} took longer than the ${maxMs} ms freeze limit, ` +
            `so its filesystem was thawed before it ended and the copy is not consistent; retry when the volume is less busy`,
        );
    } finally {
      clearTimeout(timer);
    }
    // The copy is made: the thaw starts now, and beside it what needs no thawed filesystem (the
    // reservation's durability, the copy's fsync, records written to temporary files).
    const thawed = thawOnce();
    unmarked = prepareUnmarked(pool, marked);
    unmarked.catch(() => undefined); // a failed write only sends clearMarker the long way
    alongside = (async () => {
      await recorded;
      await whileThawing?.(result);
    })();
    alongside.catch(() => undefined);
    await thawed;
  } catch (err) {
    failure = { err };
    await alongside.catch(() => undefined); // settled, so nothing it leaves behind outlives the error
  }
  // Refused before the freeze (not the volume's filesystem): nothing to thaw, and nothing at that path may be thawed.
  const thawFailure = freezing
    ? await thawOnce().then(
        () => undefined,
        (err: unknown) => ({ err }),
      )
    : undefined;
  const closed = closeFreezer(started);
  if (thawFailure) {
    // Still frozen: the marker stays for the sweep to thaw at the deadline.
    await unmarked?.then((p) => pool.volumes.discard(p)).catch(() => undefined);
    await closed;
    throw thawFailure.err;
  }
  const cleared = clearMarker(pool, volumeId, marked, unmarked).catch(() => undefined);
  if (failure) {
    // A failed copy returns only once the record shows no freeze, as before.
    await Promise.all([cleared, closed]);
    throw failure.err;
  }
  // Thawed: what follows a good copy (its fsync and rename) overlaps the removal of the marker.
  try {
    await alongside;
    await afterThaw?.(result);
  } finally {
    await Promise.all([cleared, closed]);
  }
  return result;
}
