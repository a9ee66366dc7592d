import type { VolumeRecord } from '../../storage/records.js';
import { topologyKey, type ServiceContext } from '../context.js';

/** The Volume message for a record: the same answer for a create and its retries. */
export function volumeResponse(ctx: ServiceContext, r: VolumeRecord) {
  return { volume: volumeMessage(ctx, r) };
}

export function volumeMessage(ctx: ServiceContext, r: VolumeRecord) {
  const content_source = r.source
    ? r.source.kind === 'snapshot'
      ? { snapshot: { snapshot_id: r.source.id } }
      : { volume: { volume_id: r.source.id } }
    : null;
  return {
    volume_id: r.id,
    capacity_bytes: r.sizeBytes,
    volume_context: { pool: r.pool, fsType: r.fsType },
    content_source,
    accessible_topology: r.topologyNode && ctx.mode === 'local' ? [{ segments: { [topologyKey(ctx.driverName)]: r.topologyNode } }] : [],
  };
}
