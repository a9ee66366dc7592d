import type { NodeHandlers } from '../../wire/types.js';
import { bindHandlers, type HandlerTable } from '../bind.js';
import type { ServiceContext } from '../context.js';
import { nodeExpandVolume } from './expand.js';
import { nodeGetCapabilities, nodeGetInfo } from './info.js';
import { nodePublishVolume } from './publish.js';
import { nodeStageVolume } from './stage.js';
import { nodeUnpublishVolume } from './unpublish.js';
import { nodeUnstageVolume } from './unstage.js';
import { nodeGetVolumeStats } from './volume-stats.js';

/** CSI Node handlers; one file per RPC in this folder. */
const NODE: HandlerTable<NodeHandlers> = {
  NodeStageVolume: nodeStageVolume,
  NodeUnstageVolume: nodeUnstageVolume,
  NodePublishVolume: nodePublishVolume,
  NodeUnpublishVolume: nodeUnpublishVolume,
  NodeGetVolumeStats: nodeGetVolumeStats,
  NodeExpandVolume: nodeExpandVolume,
  NodeGetCapabilities: async () => nodeGetCapabilities(),
  NodeGetInfo: async (ctx) => nodeGetInfo(ctx),
};

export function nodeService(ctx: ServiceContext): NodeHandlers {
  return bindHandlers(ctx, NODE);
}
