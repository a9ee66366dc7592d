import { SIZE_UNIT } from '../capacity-range.js';
import { localTopology, type ServiceContext } from '../context.js';
import { parseVolumeParameters } from './parameters.js';
import type { GetCapacityRequest, GetCapacityResponse } from '../../wire/types.js';

/** What the pool can still promise, and 0 for a topology segment that is not this node. */
export async function getCapacity(ctx: ServiceContext, req: GetCapacityRequest): Promise<GetCapacityResponse> {
  const params = parseVolumeParameters(req.parameters);
  const ours = localTopology(ctx);
  const asked = req.accessible_topology?.segments ?? {};
  if (ours && Object.entries(asked).some(([k, v]) => ours[k] !== undefined && ours[k] !== v)) {
    return { available_capacity: 0, maximum_volume_size: null, minimum_volume_size: null };
  }
  const pool = ctx.pools.select(params.pool);
  const cap = await pool.capacity();
  return {
    available_capacity: cap.availableBytes,
    maximum_volume_size: { value: Math.min(cap.availableBytes, cap.maximumVolumeBytes) },
    minimum_volume_size: { value: SIZE_UNIT },
  };
}
