import { invalidArgument, outOfRange } from '../../domain/errors.js';
import type { VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';
import { requireVolume } from '../lookup.js';
import { sizeForRange, sizeSatisfies } from '../capacity-range.js';
import type { CallContext, ControllerExpandVolumeRequest, ControllerExpandVolumeResponse } from '../../wire/types.js';

/**
 * Shared mode only (the pool is reachable from the controller): grows the
 * image and its record; the node then grows the loop device and filesystem.
 * Never shrinks: a volume already large enough is answered as it is.
 */
export async function controllerExpandVolume(
  ctx: ServiceContext,
  req: ControllerExpandVolumeRequest,
  call?: CallContext,
): Promise<ControllerExpandVolumeResponse> {
  if (!req.volume_id) throw invalidArgument('volume_id is required');
  if (!req.capacity_range) throw invalidArgument('capacity_range is required');
  const range = req.capacity_range;
  return ctx.locks.runFor(call?.scope, `volume:${req.volume_id}`, async () => {
    const vol = await requireVolume(ctx, req.volume_id);
    let record = vol.record;
    if (!sizeSatisfies(record.sizeBytes, range)) {
      const limit = Number(range.limit_bytes ?? 0);
      if (limit > 0 && record.sizeBytes > limit) {
        throw outOfRange(`volume ${vol.id} is already ${record.sizeBytes} bytes, more than limit_bytes ${limit}; volumes never shrink`);
      }
      record = await vol.pool.expandVolume(vol.id, sizeForRange(range));
    }
    return { capacity_bytes: record.sizeBytes, node_expansion_required: needsNodeExpansion(record, req.volume_capability) };
  });
}

/**
 * A filesystem must be grown on the node. A raw block volume is done once the
 * image grew, unless a node has it attached: that loop device must pick up the size.
 */
function needsNodeExpansion(r: VolumeRecord, cap: ControllerExpandVolumeRequest['volume_capability']): boolean {
  const block = cap?.block ? true : cap?.mount ? false : r.accessTypes.length > 0 && r.accessTypes.every((t) => t === 'block');
  return !block || r.staging.length > 0;
}
