import { invalidArgument } from '../../domain/errors.js';
import { isReadOnlyMode } from '../../domain/volume.js';
import { decodeCapability } from '../capabilities.js';
import type { ServiceContext } from '../context.js';
import { requireField, requireVolume } from '../lookup.js';
import { ATTACHMENT_TOKEN_KEY } from '../node/shared-attachment.js';
import type { CallContext, ControllerPublishVolumeRequest, ControllerPublishVolumeResponse } from '../../wire/types.js';

/**
 * Shared mode: grant one node the right to stage a volume. The grant is an
 * attachment in the volume's record with a fresh random token; the node's
 * NodeStageVolume must present that token, so a node holding an older grant
 * is refused (services/node/shared-attachment.ts). The pool checks conflicts,
 * the node's registration and its volume limit under its lock (design: Shared mode).
 */
export async function controllerPublishVolume(
  ctx: ServiceContext,
  req: ControllerPublishVolumeRequest,
  call?: CallContext,
): Promise<ControllerPublishVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const rawNode = requireField(req.node_id, 'node_id');
  if (!req.volume_capability) throw invalidArgument('volume_capability is required');
  const cap = decodeCapability(req.volume_capability);
  // Read-only modes are read-only on every node, whatever the CO's flag says.
  const readOnly = Boolean(req.readonly) || isReadOnlyMode(cap.accessMode);
  return ctx.locks.runFor(call?.scope, `volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    const request = { nodeId: rawNode, capability: cap, readOnly };
    const attachment = await vol.pool.attachVolume(vol.id, request, ctx.pools.pools.values());
    return { publish_context: { [ATTACHMENT_TOKEN_KEY]: attachment.token } };
  });
}
