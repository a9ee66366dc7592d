/**
 * Changed-block metadata of snapshot images (design: Changed-block metadata): reads their extent
 * maps and hands them to the pure range logic. Snapshot images never change once ready, so two
 * reads of them agree; the pool lock is not needed.
 */
import { stat } from 'node:fs/promises';
import { failedPrecondition, notFound } from '../domain/errors.js';
import { extentMap } from '../host/filefrag.js';
import { allocatedRanges, changedRanges, type ByteRange } from './extent-ranges.js';
import type { ImagePool } from './image-pool.js';
import type { SnapshotRecord } from './records.js';

/** The extent map of a ready snapshot's image, NOT_FOUND if the image went away (deleted meanwhile). */
async function snapshotExtents(pool: ImagePool, record: SnapshotRecord) {
  const path = pool.snapshotImagePath(record.id);
  try {
    await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`snapshot ${record.id} has no image (deleted meanwhile?)`);
    throw err;
  }
  return extentMap(path);
}

/** The byte ranges of the snapshot's image that hold data. */
export async function snapshotAllocatedRanges(pool: ImagePool, record: SnapshotRecord): Promise<ByteRange[]> {
  return allocatedRanges(await snapshotExtents(pool, record), record.sizeBytes);
}

/**
 * The byte ranges of `target` that differ from `base`, two snapshots of one volume in `pool`.
 * Needs a pool with reflinks: there a block both snapshots still share is unchanged by
 * construction. A pool without them makes full copies, which share nothing, so extent maps
 * cannot tell an unchanged block from a changed one: FAILED_PRECONDITION (the CSI answer for
 * "changed block tracking is not enabled"), and the caller makes a full backup.
 */
export async function snapshotChangedRanges(pool: ImagePool, base: SnapshotRecord, target: SnapshotRecord): Promise<ByteRange[]> {
  if (!pool.reflink) {
    throw failedPrecondition(
      `pool ${pool.name} cannot reflink, so its snapshots are full copies that share no blocks; ` +
        'changed blocks between them cannot be told from extent maps: make a full backup, or use a pool on xfs or btrfs',
    );
  }
  const [a, b] = await Promise.all([snapshotExtents(pool, base), snapshotExtents(pool, target)]);
  return changedRanges(a, b, target.sizeBytes);
}
