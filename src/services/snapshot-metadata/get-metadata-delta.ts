import { invalidArgument } from '../../domain/errors.js';
import { snapshotChangedRanges } from '../../storage/extent-metadata.js';
import type { GetMetadataDeltaRequest, GetMetadataDeltaResponse } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';
import { metadataMessages, paging, requireSnapshot } from './metadata-pages.js';

/**
 * The byte ranges of the target snapshot that changed since the base one, from the two images'
 * extent maps: blocks they share are unchanged (design: Changed-block metadata).
 */
export async function* getMetadataDelta(ctx: ServiceContext, req: GetMetadataDeltaRequest): AsyncGenerator<GetMetadataDeltaResponse> {
  if (!req.base_snapshot_id) throw invalidArgument('base_snapshot_id is required');
  if (!req.target_snapshot_id) throw invalidArgument('target_snapshot_id is required');
  const base = await requireSnapshot(ctx, req.base_snapshot_id, 'base_snapshot_id');
  const target = await requireSnapshot(ctx, req.target_snapshot_id, 'target_snapshot_id');
  if (base.record.sourceVolumeId !== target.record.sourceVolumeId || base.pool !== target.pool) {
    throw invalidArgument(
      `snapshots ${base.record.id} (of volume ${base.record.sourceVolumeId}) and ${target.record.id} ` +
        `(of volume ${target.record.sourceVolumeId}) are not of the same volume; a delta compares two snapshots of one volume`,
    );
  }
  const capacity = target.record.sizeBytes;
  const p = paging(req.starting_offset, req.max_results, capacity);
  const ranges = await snapshotChangedRanges(target.pool, base.record, target.record);
  yield* metadataMessages(ranges, p, capacity);
}
