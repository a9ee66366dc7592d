/** How a copy of a volume holds one instant of it: what to freeze, and the write-back started ahead (design: Freeze). */
import { failedPrecondition } from '../domain/errors.js';
import { flushFilesystem } from '../host/fsfreeze.js';
import type { FreezerSession } from '../host/freezer-session.js';
import { findLoopsByBackingFile } from '../host/losetup.js';
import { hostUnwrittenBytes } from '../host/meminfo.js';
import { topMountAtNow } from '../host/mountinfo.js';
import type { MarkedFreeze } from './freeze-marker.js';
import type { ImagePool } from './image-pool.js';
import type { VolumeRecord } from './records.js';

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

/** A plan that freezes: the volume is staged as a filesystem on this host. */
export type FreezingPlan = CopyPlan & { freezeMountPath: string };

export function freezes(plan: CopyPlan): plan is FreezingPlan {
  return plan.freezeMountPath !== undefined;
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
    const mounted = topMountAtNow(here.stagingPath);
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
