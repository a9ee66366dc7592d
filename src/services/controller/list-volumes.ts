import { invalidArgument } from '../../domain/errors.js';
import { deepFreeze } from '../../domain/freeze.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';
import { paginate } from './page-token.js';
import { publishedNodes, volumeConditions, type VolumeCondition } from './volume-condition.js';
import { volumeMessage } from './volume-response.js';
import type { ListVolumesRequest, ListVolumesResponse } from '../../wire/types.js';

type VolumeMessage = ReturnType<typeof volumeMessage>;
type VolumeStatus = { published_node_ids: string[]; volume_condition: VolumeCondition };

/**
 * What a listing builds from a record, per service context and record object. Records served from
 * the last listing are the same objects (see RecordStore.allAt), so their Volume messages are not
 * built again for every call, nor their statuses while the condition is the same object (a healthy
 * one is one shared object); a changed record is a new object and gets its own. Both are frozen:
 * the wire layer then encodes each entry once and keeps its bytes (wire/listing-encoder.ts).
 */
const built = new WeakMap<ServiceContext, WeakMap<VolumeRecord, { volume: VolumeMessage; status?: VolumeStatus }>>();

function listedEntry(ctx: ServiceContext, record: VolumeRecord, condition: VolumeCondition) {
  let known = built.get(ctx);
  if (!known) {
    known = new WeakMap();
    built.set(ctx, known);
  }
  let kept = known.get(record);
  if (!kept) {
    kept = { volume: deepFreeze(volumeMessage(ctx, record)) };
    known.set(record, kept);
  }
  if (kept.status?.volume_condition !== condition) {
    kept.status = deepFreeze({ published_node_ids: publishedNodes(ctx, record), volume_condition: condition });
  }
  return { volume: kept.volume, status: kept.status };
}

export async function listVolumes(ctx: ServiceContext, req: ListVolumesRequest): Promise<ListVolumesResponse> {
  const max = req.max_entries ?? 0;
  if (max < 0) throw invalidArgument('max_entries must not be negative');
  const all: { pool: ImagePool; record: VolumeRecord }[] = [];
  for (const pool of ctx.pools.pools.values()) {
    for (const record of await pool.listVolumesForListing()) if (record.state === 'ready') all.push({ pool, record });
  }
  all.sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
  const { page, next_token } = paginate(all, (e) => e.record.id, req.starting_token, max);
  // Conditions of the page only, a pool at a time: its images as the listing measured them, its space read once.
  const conditions = new Map<VolumeRecord, VolumeCondition>();
  for (const pool of ctx.pools.pools.values()) {
    const records = page.filter((e) => e.pool === pool).map((e) => e.record);
    if (records.length === 0) continue;
    const found = await volumeConditions(pool, records, { listed: true });
    for (const [i, r] of records.entries()) conditions.set(r, found[i]!);
  }
  const entries = page.map(({ record }) => listedEntry(ctx, record, conditions.get(record)!));
  return { entries, next_token };
}
