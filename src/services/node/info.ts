import type { NodeGetCapabilitiesResponse, NodeGetInfoResponse, NodeRpcType } from '../../wire/types.js';
import { localTopology, type ServiceContext } from '../context.js';

export function nodeGetInfo(ctx: ServiceContext): NodeGetInfoResponse {
  const segments = localTopology(ctx);
  return {
    node_id: ctx.nodeId!,
    max_volumes_per_node: ctx.maxVolumesPerNode,
    accessible_topology: segments ? { segments } : null,
  };
}

export function nodeGetCapabilities(): NodeGetCapabilitiesResponse {
  const types: (keyof typeof NodeRpcType)[] = [
    'STAGE_UNSTAGE_VOLUME',
    'GET_VOLUME_STATS',
    'EXPAND_VOLUME',
    'VOLUME_CONDITION',
    'SINGLE_NODE_MULTI_WRITER',
  ];
  return { capabilities: types.map((type) => ({ rpc: { type } })) };
}
