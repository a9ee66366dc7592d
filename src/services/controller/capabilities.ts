import type { ControllerGetCapabilitiesResponse, ControllerRpcType } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';

type RpcType = keyof typeof ControllerRpcType;

/**
 * Truthful per mode (design: Deploy modes). A controller with no pools is the local-mode
 * stub for the central resizer: it claims nothing, so the resizer leaves
 * expansion to NodeExpandVolume on the owning node.
 */
export function controllerCapabilityNames(ctx: ServiceContext): RpcType[] {
  if (ctx.pools.isEmpty) return [];
  const caps: RpcType[] = [
    'CREATE_DELETE_VOLUME',
    'LIST_VOLUMES',
    'GET_CAPACITY',
    'GET_VOLUME',
    'VOLUME_CONDITION',
    'SINGLE_NODE_MULTI_WRITER',
    'LIST_VOLUMES_PUBLISHED_NODES',
    'CREATE_DELETE_SNAPSHOT',
    'LIST_SNAPSHOTS',
    'GET_SNAPSHOT',
    'CLONE_VOLUME',
  ];
  if (ctx.mode === 'shared') caps.push('EXPAND_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'PUBLISH_READONLY');
  return caps;
}

export function controllerGetCapabilities(ctx: ServiceContext): ControllerGetCapabilitiesResponse {
  return { capabilities: controllerCapabilityNames(ctx).map((type) => ({ rpc: { type } })) };
}
