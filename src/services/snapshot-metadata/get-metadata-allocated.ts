import { snapshotAllocatedRanges } from '../../storage/extent-metadata.js';
import type { GetMetadataAllocatedRequest, GetMetadataAllocatedResponse } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';
import { metadataMessages, paging, requireSnapshot } from './metadata-pages.js';

/** The byte ranges of a snapshot that hold data, from its image's extent map (design: Changed-block metadata). */
export async function* getMetadataAllocated(
  ctx: ServiceContext,
  req: GetMetadataAllocatedRequest,
): AsyncGenerator<GetMetadataAllocatedResponse> {
  const { pool, record } = await requireSnapshot(ctx, req.snapshot_id, 'snapshot_id');
  const p = paging(req.starting_offset, req.max_results, record.sizeBytes);
  const ranges = await snapshotAllocatedRanges(pool, record);
  yield* metadataMessages(ranges, p, record.sizeBytes);
}
