import { aborted, Code, failedPrecondition, notFound, QuarryError, unavailable } from '../domain/errors.js';
import type { VolumeId } from '../domain/ids.js';
import { flushFilesystem, freeze, thaw } from '../host/fsfreeze.js';
import { type FreezerSession, openFreezer } from '../host/freezer-session.js';
import { findLoopsByBackingFile } from '../host/losetup.js';
import { hostUnwrittenBytes } from '../host/meminfo.js';
import { topMountAt } from '../host/mountinfo.js';
import { faultPoint } from './fault-points.js';
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

/** How a copy of a volume can hold one instant of it (design: Snapshots and clones). */
export interface CopyPlan {
  /** Freeze the filesystem mounted here for the whole copy: it is the volume's staging mount on this host. */
  freezeMountPath?: string;
  /** The mount the plan found there (its mountinfo ID): only the filesystem through it may be frozen. */
  freezeMountId?: number;
  /**
   * The write-back of that filesystem, started as soon as the plan is made (or by startWriteBack)
   * so it overlaps the records written before the freeze. Never rejects: it only shortens the freeze.
   */
  flushed?: Promise<void>;
  /**
   * What must be durable before the copy can be (a snapshot's 'creating' record): made so while
   * the filesystem is frozen and copied, and awaited before the copy's fsync (design: Freeze).
   * Rejections are the copy's errors.
   */
  recorded?: Promise<void>;
  /** The freeze marker, when the caller already renamed it into the volume's record (commitMarker). */
  marked?: MarkedFreeze;
  /**
   * The freezer process, started in the reservation's hold (reserveBesideMarker) so that its start
   * overlaps the records' fsyncs; the freeze then owns it and closes it. Never rejects.
   */
  freezer?: Promise<FreezerSession | undefined>;
}

/** A freeze marker set by the caller in its own hold of the pool lock (prepareMarker, commitMarker). */
export interface MarkedFreeze {
  marker: FreezeRecord;
  /** The volume's record with the marker, as a read of its file returns it: clearing the marker compares against it. */
  record: VolumeRecord;
}

/** The marker for a freeze of `mountPath` taken now; its deadline counts from now. */
export function freezeMarker(opts: Pick<FreezeOptions, 'nodeId' | 'holder' | 'maxFreezeMs'>, mountPath: string): FreezeRecord {
  const since = Date.now();
  return {
    nodeId: opts.nodeId,
    mountPath,
    holder: opts.holder,
    since: new Date(since).toISOString(),
    until: new Date(since + (opts.maxFreezeMs ?? DEFAULT_MAX_FREEZE_MS)).toISOString(),
  };
}

/**
 * Below this much unwritten file data on the whole host, a filesystem about to be frozen is not
 * written back first (design: Freeze). Measured here on an idle staged xfs volume: the `sync -f`
 * costs about 6 ms and makes the freeze right after it about 5 ms slower, where the freeze itself
 * writes this much through the loop device in about 3 ms (1 GiB took about 290 ms).
 */
export const WRITE_BACK_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Whether a write-back before the freeze can pay for itself: only when the host has at least
 * WRITE_BACK_MIN_BYTES dirty or under write-back. That count covers every filesystem, so it bounds
 * this one's from above; when it cannot be read, the write-back runs, as it always did.
 */
export function writeBackWorthIt(hostUnwritten: number | undefined): boolean {
  return hostUnwritten === undefined || hostUnwritten >= WRITE_BACK_MIN_BYTES;
}

/**
 * Starts writing back a filesystem that is about to be frozen (design: Freeze). The freeze flushes
 * everything itself and stays the only guarantee; this moves most of that work before it, while
 * writers still run, when there is enough of it to pay for the fork (writeBackWorthIt). A failure
 * here is left for the freeze to meet and report.
 */
export function flushAhead(mountPath: string): Promise<void> {
  if (!writeBackWorthIt(hostUnwrittenBytes())) return Promise.resolve();
  return flushFilesystem(mountPath).catch(() => undefined);
}

/**
 * Starts the plan's write-back (flushAhead), for a caller that first queued its own I/O: the fork
 * holds the event loop for a few milliseconds, which the libuv workers then spend on that I/O.
 */
export function startWriteBack(plan: CopyPlan): CopyPlan {
  if (plan.freezeMountPath && !plan.flushed) plan.flushed = flushAhead(plan.freezeMountPath);
  return plan;
}

/**
 * Decides how to copy a volume without tearing it:
 * - staged as a filesystem on this host: freeze it for the whole copy, whatever the pool;
 * - in use elsewhere (or as a raw block device) on a reflink pool: a reflink is one atomic
 *   clone of the file, so it holds one instant of the disk (crash-consistent);
 * - in use where it cannot be frozen, on a pool without reflinks: refused, since a copy read
 *   while the volume is written would hold a state the disk never had.
 */
export async function planConsistentCopy(
  pool: ImagePool,
  v: VolumeRecord,
  nodeId: string | undefined,
  what: string,
  opts: { writeBack?: boolean } = {},
): Promise<CopyPlan> {
  const here = v.staging.find((s) => s.nodeId === nodeId && s.accessType === 'mount');
  if (here) {
    const mounted = await topMountAt(here.stagingPath);
    if (mounted && (!here.device || mounted.source === here.device)) {
      const plan: CopyPlan = { freezeMountPath: here.stagingPath, freezeMountId: mounted.mountId };
      return opts.writeBack === false ? plan : startWriteBack(plan);
    }
  }
  if (pool.reflink) return {};
  const users = [...v.staging, ...v.publications];
  const elsewhere = users.filter((u) => u.nodeId !== nodeId);
  // Entries for this host count only while the image is really attached here (records outlive a reboot).
  const attachedHere = users.length > elsewhere.length && (await findLoopsByBackingFile(pool.volumeImagePath(v.id))).length > 0;
  if (elsewhere.length === 0 && !attachedHere) return {};
  const where = [...new Set((attachedHere ? users : elsewhere).map((s) => s.nodeId))].join(', ');
  throw failedPrecondition(
    `cannot make a consistent ${what} of volume ${v.id}: it is in use on ${where}, pool ${pool.name} cannot reflink, ` +
      `and Quarry can freeze only a filesystem staged on this host${nodeId ? ` (${nodeId})` : ''}. ` +
      'Stop the pods using it (so it is unpublished and unstaged), then retry; ' +
      'or keep such volumes in a reflink pool (XFS with reflink, btrfs)',
  );
}

export interface FreezeOptions {
  nodeId: string;
  /** The kind of process freezing ('controller', 'node'): one instance of each per node. */
  holder: string;
  maxFreezeMs?: number;
  onThawError?: (err: Error) => void;
  /** A write-back of the filesystem already under way (CopyPlan.flushed); else one is started here. */
  flushed?: Promise<void>;
  /** Awaited after a good copy, before `whileThawing` (CopyPlan.recorded). */
  recorded?: Promise<void>;
  /** The marker, already set by the caller (CopyPlan.marked); else it is set here. */
  marked?: MarkedFreeze;
  /** The freezer, already started by the caller (CopyPlan.freezer); else it is started here. Closed here. */
  freezer?: Promise<FreezerSession | undefined>;
  /** The volume's staging mount (CopyPlan.freezeMountId): anything else found at the mount path is never frozen. */
  mountId?: number;
}

/** Steps of a good copy that need not wait for the thaw, and the ones that must. */
export interface AfterCopy<T> {
  /** Runs beside the thaw (the copy's fsync, records written to temporary files): nothing here may need the filesystem thawed. */
  whileThawing?: (result: T) => Promise<void>;
  /** Runs once thawed, after whileThawing. */
  afterThaw?: (result: T) => Promise<void>;
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
async function clearMarker(pool: ImagePool, volumeId: VolumeId, marked: MarkedFreeze, prepared?: Promise<PreparedRecord<VolumeRecord>>) {
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
 * Runs `copy` with the volume's filesystem frozen. The freeze is recorded in the volume's record
 * before it happens and cleared after the thaw, so a process killed in between leaves a record
 * that the next start (or any process's sweep) undoes. A timer thaws it after maxFreezeMs even
 * if the copy hangs; the copy then no longer holds one instant and is failed.
 * `after` is what follows a good copy: `whileThawing` beside the thaw, `afterThaw` once thawed.
 */
export async function withFrozenFilesystem<T>(
  pool: ImagePool,
  volumeId: VolumeId,
  mountPath: string,
  opts: FreezeOptions,
  copy: () => Promise<T>,
  after: AfterCopy<T> = {},
): Promise<T> {
  const { whileThawing, afterThaw } = after;
  const maxMs = opts.maxFreezeMs ?? DEFAULT_MAX_FREEZE_MS;
  // The write-back (already under way when the plan started it) overlaps the marker's write. The
  // deadline counts from the marker, so it covers the write-back as it always covered the flush
  // that fsfreeze itself does.
  const flushed = opts.flushed ?? flushAhead(mountPath);
  // Settled at every exit, so no rejection of it goes unhandled; its error is the copy's.
  const recorded = opts.recorded ?? Promise.resolve();
  recorded.catch(() => undefined);
  let marked = opts.marked;
  if (!marked) {
    const marker = freezeMarker({ ...opts, maxFreezeMs: maxMs }, mountPath);
    // Visible to any process at once, but not made durable: a reboot ends every freeze (design: Freeze).
    marked = await pool.withLock(async () => {
      const v = await pool.volumes.read(volumeId);
      if (v?.state !== 'ready') throw notFound(`volume ${volumeId} does not exist`);
      const record = { ...v, freeze: marker };
      await pool.volumes.write(record, NOT_DURABLE);
      return { marker, record: asRead(pool, record) };
    });
  }
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
  const started = opts.freezer ?? startFreezer(mountPath, marked.marker.until);
  let freezer = started;
  let freezing = false;
  const thawOnce = () => (thawing ??= viaFreezer(freezer, 'thaw', () => thaw(mountPath)));
  try {
    if (opts.mountId !== undefined && !(await checkFreezeTarget(freezer, mountPath, opts.mountId))) freezer = Promise.resolve(undefined);
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
    unmarked = pool.volumes.prepare(withoutFreeze(marked.record));
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

/**
 * Refuses (FAILED_PRECONDITION) a freeze of whatever is at `mountPath` when it is not the volume's
 * staging mount the plan found: unstaged since, the path shows the filesystem below it (the
 * kubelet's, often the host's root), which must never be frozen. The freezer's open file is
 * checked, and that open also keeps the mount in place until the thaw; without a freezer (or when
 * its file cannot be read) the mount table is checked, and the freeze falls back to fsfreeze.
 * Says whether the freezer may be used.
 */
export async function checkFreezeTarget(
  freezer: Promise<FreezerSession | undefined>,
  mountPath: string,
  mountId: number,
): Promise<boolean> {
  const f = await freezer;
  const opened = await f?.openedMountId().catch(() => undefined);
  const found = opened ?? (await topMountAt(mountPath))?.mountId;
  if (found !== mountId) {
    throw failedPrecondition(
      `the volume's staging mount (mount ${mountId}) is no longer at ${mountPath} ` +
        `(${found === undefined ? 'nothing mounted' : `found mount ${found}`}); nothing was frozen. It was unstaged meanwhile: retry`,
    );
  }
  // A freezer whose file could not be checked is not used: its thaw could meet another filesystem.
  return opened !== undefined;
}

/** What the freezer's process may outlive the freeze's deadline by: its thaw's own bound. */
const FREEZER_SPARE_MS = 60_000;

/** A freezer for the filesystem at `mountPath`, living until the freeze's deadline plus its thaw's bound; undefined if it cannot start. */
function startFreezer(mountPath: string, until: string): Promise<FreezerSession | undefined> {
  const lifetimeMs = Math.max(0, Date.parse(until) - Date.now()) + FREEZER_SPARE_MS;
  return openFreezer(mountPath, { lifetimeMs }).catch(() => undefined);
}

function closeFreezer(freezer: Promise<FreezerSession | undefined> | undefined): Promise<void> {
  return (freezer ?? Promise.resolve(undefined)).then((f) => f?.close()).catch(() => undefined);
}

/** One freeze step through the freezer, or through `fallback` when it has none or it failed short of its bound. */
export async function viaFreezer(
  freezer: Promise<FreezerSession | undefined>,
  step: 'freeze' | 'thaw',
  fallback: () => Promise<void>,
): Promise<void> {
  const f = await freezer;
  const failed = f
    ? await f[step]().then(
        () => undefined,
        (err: unknown) => ({ err }),
      )
    : { err: undefined };
  if (!failed) return;
  // A command past its bound means the kernel is stuck, not the freezer: fsfreeze would wait as long.
  if (failed.err instanceof QuarryError && failed.err.code === Code.DEADLINE_EXCEEDED) throw failed.err;
  await fallback();
}

function withoutFreeze(v: VolumeRecord): VolumeRecord {
  const { freeze: _, ...rest } = v;
  return rest;
}

/**
 * Thaws the freezes recorded on this node that no live copy holds any more: at start, those its
 * own kind of process took (`startOf`: the process that took them is gone, since this one replaced
 * it), and always those past their deadline. Only a path the record still lists as the volume's
 * staging on this node is thawed. Returns what it thawed.
 */
export async function thawRecordedFreezes(
  pool: ImagePool,
  nodeId: string,
  opts: { startOf?: string; now?: number },
): Promise<Array<{ volumeId: string; mountPath: string; error?: string }>> {
  const now = opts.now ?? Date.now();
  const out: Array<{ volumeId: string; mountPath: string; error?: string }> = [];
  for (const v of await pool.listVolumes()) {
    const f = v.freeze;
    if (!f || f.nodeId !== nodeId || v.state !== 'ready') continue;
    const expired = !(Date.parse(f.until) >= now);
    if (!expired && f.holder !== opts.startOf) continue;
    const entry: { volumeId: string; mountPath: string; error?: string } = { volumeId: v.id, mountPath: f.mountPath };
    try {
      const staged = v.staging.some((s) => s.nodeId === nodeId && s.stagingPath === f.mountPath);
      if (staged && (await topMountAt(f.mountPath))) await thaw(f.mountPath);
      await pool.updateVolume(v.id as VolumeId, (cur) => {
        if (cur.freeze?.since !== f.since) return cur;
        const { freeze: _, ...rest } = cur;
        return rest;
      });
    } catch (err) {
      entry.error = (err as Error).message;
    }
    out.push(entry);
  }
  return out;
}

/**
 * For node operations: a volume whose filesystem is frozen for a copy on this node is refused at
 * once (UNAVAILABLE, retry later) instead of hanging on the frozen filesystem. A freeze past its
 * deadline is thawed here and the operation goes on.
 */
export async function ensureNotFrozen(pool: ImagePool, v: VolumeRecord, nodeId: string | undefined): Promise<void> {
  const f = v.freeze;
  if (!f || !nodeId || f.nodeId !== nodeId) return;
  if (Date.parse(f.until) < Date.now()) {
    await thawRecordedFreezes(pool, nodeId, {});
    return;
  }
  throw unavailable(
    `volume ${v.id} is frozen at ${f.mountPath} for a snapshot or clone since ${f.since} (at most until ${f.until}); ` +
      `retry in a few seconds`,
  );
}

/** Starts the periodic sweep that thaws freezes past their deadline; returns a stop function. */
export function startFreezeSweeper(
  pools: ImagePool[] | IterableIterator<ImagePool>,
  nodeId: string,
  everyMs: number,
  log: (pool: string, r: { volumeId: string; mountPath: string; error?: string }) => void,
): () => void {
  const all = [...pools];
  const sweep = async () => {
    for (const pool of all) {
      for (const r of await thawRecordedFreezes(pool, nodeId, {}).catch(() => [])) log(pool.name, r);
    }
  };
  const timer = setInterval(() => void sweep(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
