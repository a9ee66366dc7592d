import type { GroupControllerGetCapabilitiesResponse } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';

/** Group snapshots need pools: the local-mode resizer stub (no pools) claims nothing (design: Group snapshots). */
export function groupControllerGetCapabilities(ctx: ServiceContext): GroupControllerGetCapabilitiesResponse {
  if (ctx.pools.isEmpty) return { capabilities: [] };
  return { capabilities: [{ rpc: { type: 'CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT' } }] };
}
