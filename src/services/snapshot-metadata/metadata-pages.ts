import { echo } from '../../domain/clip.js';
import { invalidArgument, notFound, outOfRange } from '../../domain/errors.js';
import { parseSnapshotId } from '../../domain/ids.js';
import { pageRanges, rangesFrom, type ByteRange } from '../../storage/extent-ranges.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { SnapshotRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';

/** Ranges per message when the client leaves max_results at 0: about 20 KiB of protobuf. */
export const DEFAULT_RANGES_PER_MESSAGE = 1024;
/** Never more per message, whatever the client asks: keeps a message far below gRPC's 4 MiB. */
export const MAX_RANGES_PER_MESSAGE = 16_384;

export interface FoundSnapshot {
  pool: ImagePool;
  record: SnapshotRecord;
}

/** The ready snapshot a request names; a missing ID is INVALID_ARGUMENT, an unknown one NOT_FOUND. */
export async function requireSnapshot(ctx: ServiceContext, rawId: string, field: string): Promise<FoundSnapshot> {
  if (!rawId) throw invalidArgument(`${field} is required`);
  const id = parseSnapshotId(rawId);
  const found = id && (await ctx.pools.findSnapshot(id));
  if (found?.record.state !== 'ready') throw notFound(`snapshot ${echo(rawId)} (${field}) does not exist`);
  return found;
}

export interface Paging {
  startingOffset: number;
  perMessage: number;
}

/** Checks starting_offset and max_results against the volume's size, as the CSI spec sets the codes. */
export function paging(startingOffset: number, maxResults: number, capacityBytes: number): Paging {
  if (!Number.isSafeInteger(startingOffset) || startingOffset < 0) {
    throw invalidArgument(`starting_offset must be a byte offset of zero or more, not ${startingOffset}`);
  }
  if (!Number.isSafeInteger(maxResults) || maxResults < 0) {
    throw invalidArgument(`max_results must be zero (the plugin chooses) or more, not ${maxResults}`);
  }
  if (startingOffset >= capacityBytes) {
    throw outOfRange(`starting_offset ${startingOffset} is not below the volume's size, ${capacityBytes} bytes`);
  }
  const perMessage = maxResults === 0 ? DEFAULT_RANGES_PER_MESSAGE : Math.min(maxResults, MAX_RANGES_PER_MESSAGE);
  return { startingOffset, perMessage };
}

/** The messages of one answer: ranges from the starting offset on, split by max_results; at least one message. */
export function* metadataMessages(ranges: readonly ByteRange[], p: Paging, capacityBytes: number) {
  for (const page of pageRanges(rangesFrom(ranges, p.startingOffset), p.perMessage)) {
    yield {
      // Extents, not fixed blocks: one entry per changed run keeps a 1 GiB run one entry (design: Changed-block metadata).
      block_metadata_type: 'VARIABLE_LENGTH' as const,
      volume_capacity_bytes: capacityBytes,
      block_metadata: page.map((r) => ({ byte_offset: r.offset, size_bytes: r.length })),
    };
  }
}
