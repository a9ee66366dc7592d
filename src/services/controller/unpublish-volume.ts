import { parseVolumeId } from '../../domain/ids.js';
import type { ServiceContext } from '../context.js';
import { requireField } from '../lookup.js';
import type { CallContext, ControllerUnpublishVolumeRequest, ControllerUnpublishVolumeResponse } from '../../wire/types.js';

/**
 * Shared mode: withdraw a node's grant (or every node's, for an empty
 * node_id). Idempotent: a malformed or missing volume, or a node that holds
 * no grant, has nothing to withdraw. The node's own staging records are the
 * node's business and stay.
 */
export async function controllerUnpublishVolume(
  ctx: ServiceContext,
  req: ControllerUnpublishVolumeRequest,
  call?: CallContext,
): Promise<ControllerUnpublishVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const id = parseVolumeId(rawId);
  if (!id) return {};
  const nodeId = req.node_id ?? '';
  await ctx.locks.runFor(call?.scope, `volume:${id}`, async () => {
    const found = await ctx.pools.findVolume(id);
    if (!found) return;
    await found.pool.detachVolume(id, nodeId);
  });
  return {};
}
