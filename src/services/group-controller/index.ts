import type { GroupControllerHandlers } from '../../wire/types.js';
import { bindHandlers, type HandlerTable } from '../bind.js';
import type { ServiceContext } from '../context.js';
import { groupControllerGetCapabilities } from './capabilities.js';
import { createVolumeGroupSnapshot } from './create-group-snapshot.js';
import { deleteVolumeGroupSnapshot } from './delete-group-snapshot.js';
import { getVolumeGroupSnapshot } from './get-group-snapshot.js';

const CAPABILITIES: HandlerTable<GroupControllerHandlers> = {
  GroupControllerGetCapabilities: async (ctx) => groupControllerGetCapabilities(ctx),
};

const POOLED: HandlerTable<GroupControllerHandlers> = {
  ...CAPABILITIES,
  CreateVolumeGroupSnapshot: createVolumeGroupSnapshot,
  GetVolumeGroupSnapshot: getVolumeGroupSnapshot,
  DeleteVolumeGroupSnapshot: deleteVolumeGroupSnapshot,
};

/** CSI GroupController: consistent group snapshots of volumes in one pool (design: Group snapshots). */
export function groupControllerService(ctx: ServiceContext): GroupControllerHandlers {
  return bindHandlers(ctx, ctx.pools.isEmpty ? CAPABILITIES : POOLED);
}
