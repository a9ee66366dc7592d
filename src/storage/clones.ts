import { notFound } from '../domain/errors.js';
import type { VolumeId } from '../domain/ids.js';
import type { CopyPlan } from './copy-plan.js';
import { reserveBesideMarker } from './freeze-marker.js';
import type { FillImage, ImagePool, NewVolume, ReservationHold } from './image-pool.js';
import type { VolumeRecord } from './records.js';
import { copyImageConsistently, type SnapshotCopyOptions } from './snapshots.js';

/** What a new volume is copied from: a volume (a clone) or a snapshot (a restore) of the same pool. */
export interface CopySource {
  kind: 'volume' | 'snapshot';
  id: string;
  imagePath: string;
}

/**
 * Creates a volume holding a copy of `source`, never torn: `plan` (planConsistentCopy, made with
 * `writeBack: false`) says how (design: Snapshots and clones). A clone of a volume staged here
 * takes the snapshot path's order (design: Freeze): its freeze marker is written beside the
 * 'creating' record in the reservation's hold, the copy's file is made before the freeze, and the
 * copy's fsync and the 'ready' record's content run beside the thaw, its rename beside the marker's
 * clearing; one directory fsync before the answer covers the image and the record.
 */
export function createVolumeFrom(
  pool: ImagePool,
  spec: NewVolume,
  source: CopySource,
  plan: CopyPlan,
  opts: SnapshotCopyOptions,
): Promise<VolumeRecord> {
  // A restore's source is a snapshot, never frozen: its plan is empty.
  const sourceId = source.id as VolumeId;
  const fill: FillImage = (partial, next) =>
    copyImageConsistently(pool, sourceId, plan, opts, source.imagePath, partial, next.publish, next.alongsideSync);
  return pool.createVolume(spec, fill, plan.freezeMountPath ? markerHold(pool, sourceId, plan, opts) : undefined);
}

/** The reservation's hold of a clone that freezes its source: the marker goes on the source's record as read in that hold. */
function markerHold(pool: ImagePool, sourceId: VolumeId, plan: CopyPlan, opts: SnapshotCopyOptions): ReservationHold {
  return async (check, commit) => {
    const current = await pool.volumes.read(sourceId);
    if (current?.state !== 'ready') throw notFound(`volume ${sourceId} does not exist`);
    return reserveBesideMarker(pool, current, plan, opts, check, commit);
  };
}
