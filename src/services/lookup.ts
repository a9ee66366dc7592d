import { echo } from '../domain/clip.js';
import { invalidArgument, notFound } from '../domain/errors.js';
import { parseVolumeId, type VolumeId } from '../domain/ids.js';
import type { ImagePool } from '../storage/image-pool.js';
import type { VolumeRecord } from '../storage/records.js';
import type { ServiceContext } from './context.js';

export interface FoundVolume {
  id: VolumeId;
  pool: ImagePool;
  record: VolumeRecord;
}

/** The volume a request names. A malformed ID is checked before any path and names nothing. */
export async function requireVolume(ctx: ServiceContext, rawId: string | undefined): Promise<FoundVolume> {
  if (!rawId) throw invalidArgument('volume_id is required');
  const id = parseVolumeId(rawId);
  const found = id && (await ctx.pools.findVolume(id));
  if (!id || !found || found.record.state !== 'ready') throw notFound(`volume ${echo(rawId)} does not exist`);
  return { id, ...found };
}

/**
 * Presence only: missing fields are INVALID_ARGUMENT before anything else is
 * looked at. The ID's syntax is checked by requireVolume, before any path.
 */
export function requireField(value: string | undefined, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`);
  return value;
}
