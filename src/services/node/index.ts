import type { NodeHandlers } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';
import { nodeExpandVolume } from './expand.js';
import { nodeGetCapabilities, nodeGetInfo } from './info.js';
import { nodePublishVolume } from './publish.js';
import { nodeStageVolume } from './stage.js';
import { nodeUnpublishVolume } from './unpublish.js';
import { nodeUnstageVolume } from './unstage.js';
import { nodeGetVolumeStats } from './volume-stats.js';

/** CSI Node handlers; one file per RPC in this folder. */
export function nodeService(ctx: ServiceContext): NodeHandlers {
  return {
    NodeStageVolume: (req: Parameters<typeof nodeStageVolume>[1]) => nodeStageVolume(ctx, req),
    NodeUnstageVolume: (req: Parameters<typeof nodeUnstageVolume>[1]) => nodeUnstageVolume(ctx, req),
    NodePublishVolume: (req: Parameters<typeof nodePublishVolume>[1]) => nodePublishVolume(ctx, req),
    NodeUnpublishVolume: (req: Parameters<typeof nodeUnpublishVolume>[1]) => nodeUnpublishVolume(ctx, req),
    NodeGetVolumeStats: (req: Parameters<typeof nodeGetVolumeStats>[1]) => nodeGetVolumeStats(ctx, req),
    NodeExpandVolume: (req: Parameters<typeof nodeExpandVolume>[1]) => nodeExpandVolume(ctx, req),
    NodeGetCapabilities: async () => nodeGetCapabilities(),
    NodeGetInfo: async () => nodeGetInfo(ctx),
  };
}
