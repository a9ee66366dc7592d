import type { GroupControllerHandlers } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';
import { groupControllerGetCapabilities } from './capabilities.js';
import { createVolumeGroupSnapshot } from './create-group-snapshot.js';
import { deleteVolumeGroupSnapshot } from './delete-group-snapshot.js';
import { getVolumeGroupSnapshot } from './get-group-snapshot.js';

/** CSI GroupController: consistent group snapshots of volumes in one pool (design: Group snapshots). */
export function groupControllerService(ctx: ServiceContext): GroupControllerHandlers {
  const GroupControllerGetCapabilities = async () => groupControllerGetCapabilities(ctx);
  if (ctx.pools.isEmpty) return { GroupControllerGetCapabilities };
  return {
    GroupControllerGetCapabilities,
    CreateVolumeGroupSnapshot: (req: Parameters<typeof createVolumeGroupSnapshot>[1]) => createVolumeGroupSnapshot(ctx, req),
    GetVolumeGroupSnapshot: (req: Parameters<typeof getVolumeGroupSnapshot>[1]) => getVolumeGroupSnapshot(ctx, req),
    DeleteVolumeGroupSnapshot: (req: Parameters<typeof deleteVolumeGroupSnapshot>[1]) => deleteVolumeGroupSnapshot(ctx, req),
  };
}
