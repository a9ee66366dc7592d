import { invalidArgument, notFound } from '../../domain/errors.js';
import { parseVolumeId } from '../../domain/ids.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';
import { paginate } from './page-token.js';
import { volumeMessage } from './volume-response.js';

export async function listVolumes(ctx: ServiceContext, req: { max_entries?: number; starting_token?: string }) {
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
      status: { published_node_ids: publishedNodes(record), volume_condition: await volumeCondition(pool, record) },
    })),
  );
  return { entries, next_token };
}

export async function controllerGetVolume(ctx: ServiceContext, req: { volume_id?: string }) {
  if (!req.volume_id) throw invalidArgument('volume_id is required');
  const id = parseVolumeId(req.volume_id);
  const found = id && (await ctx.pools.findVolume(id));
  if (found?.record.state !== 'ready') throw notFound(`volume ${req.volume_id} does not exist`);
  const { pool, record } = found;
  return {
    volume: volumeMessage(ctx, record),
    status: { published_node_ids: publishedNodes(record), volume_condition: await volumeCondition(pool, record) },
  };
}

/** Nodes the volume is attached to (shared mode) or published on. */
function publishedNodes(r: VolumeRecord): string[] {
  return [...new Set([...r.attachments.map((a) => a.nodeId), ...r.publications.map((p) => p.nodeId)])].sort();
}

async function volumeCondition(pool: ImagePool, r: VolumeRecord) {
  const size = await pool.volumeImageSize(r.id);
  if (size === undefined) return { abnormal: true, message: `image ${pool.volumeImagePath(r.id)} is missing` };
  if (size !== r.sizeBytes) return { abnormal: true, message: `image is ${size} bytes but the record says ${r.sizeBytes}` };
  return { abnormal: false, message: 'volume is healthy' };
}
