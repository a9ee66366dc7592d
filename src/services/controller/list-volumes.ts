import { invalidArgument } from '../../domain/errors.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';
import { paginate } from './page-token.js';
import { publishedNodes, volumeConditions, type VolumeCondition } from './volume-condition.js';
import { volumeMessage } from './volume-response.js';
import type { ListVolumesRequest, ListVolumesResponse } from '../../wire/types.js';

type VolumeMessage = ReturnType<typeof volumeMessage>;

/**
 * Volume messages by record object, per service context. Records served from the last listing
 * are the same objects (see RecordStore.allAt), so their messages are not built again for every
 * call; a changed record is a new object and gets its own.
 */
const messages = new WeakMap<ServiceContext, WeakMap<VolumeRecord, VolumeMessage>>();

function messageOf(ctx: ServiceContext, record: VolumeRecord): VolumeMessage {
  let known = messages.get(ctx);
  if (!known) {
    known = new WeakMap();
    messages.set(ctx, known);
  }
  let m = known.get(record);
  if (!m) {
    m = volumeMessage(ctx, record);
    known.set(record, m);
  }
  return m;
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
  // Conditions of the page only, a pool at a time: its images stat'ed now, its space read once.
  const conditions = new Map<VolumeRecord, VolumeCondition>();
  for (const pool of ctx.pools.pools.values()) {
    const records = page.filter((e) => e.pool === pool).map((e) => e.record);
    if (records.length === 0) continue;
    const found = await volumeConditions(pool, records);
    for (const [i, r] of records.entries()) conditions.set(r, found[i]!);
  }
  const entries = page.map(({ record }) => ({
    volume: messageOf(ctx, record),
    status: { published_node_ids: publishedNodes(ctx, record), volume_condition: conditions.get(record)! },
  }));
  return { entries, next_token };
}
