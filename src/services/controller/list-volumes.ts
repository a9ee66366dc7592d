import { invalidArgument } from '../../domain/errors.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';
import { paginate } from './page-token.js';
import { publishedNodes, volumeCondition } from './volume-condition.js';
import { volumeMessage } from './volume-response.js';
import type { ListVolumesRequest, ListVolumesResponse } from '../../wire/types.js';

export async function listVolumes(ctx: ServiceContext, req: ListVolumesRequest): Promise<ListVolumesResponse> {
  const max = req.max_entries ?? 0;
  if (max < 0) throw invalidArgument('max_entries must not be negative');
  const all: { pool: ImagePool; record: VolumeRecord }[] = [];
  for (const pool of ctx.pools.pools.values()) {
    for (const record of await pool.listVolumes()) if (record.state === 'ready') all.push({ pool, record });
  }
  all.sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
  const { page, next_token } = paginate(all, (e) => e.record.id, req.starting_token, max);
  const entries = await Promise.all(
    page.map(async ({ pool, record }) => ({
      volume: volumeMessage(ctx, record),
      status: { published_node_ids: publishedNodes(ctx, record), volume_condition: await volumeCondition(pool, record) },
    })),
  );
  return { entries, next_token };
}
