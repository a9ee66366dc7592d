import type { ControllerHandlers } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';
import { controllerGetCapabilities } from './capabilities.js';
import { createSnapshot } from './create-snapshot.js';
import { createVolume } from './create-volume.js';
import { deleteSnapshot } from './delete-snapshot.js';
import { deleteVolume } from './delete-volume.js';
import { controllerExpandVolume } from './expand-volume.js';
import { getCapacity } from './get-capacity.js';
import { getSnapshot } from './get-snapshot.js';
import { listSnapshots } from './list-snapshots.js';
import { controllerGetVolume, listVolumes } from './list-volumes.js';
import { controllerPublishVolume } from './publish-volume.js';
import { controllerUnpublishVolume } from './unpublish-volume.js';
import { validateVolumeCapabilities } from './validate-capabilities.js';

/**
 * CSI Controller handlers. Methods left out answer UNIMPLEMENTED at the wire;
 * a controller with no pool (the resizer's stub) offers only its capabilities.
 */
export function controllerService(ctx: ServiceContext): ControllerHandlers {
  const ControllerGetCapabilities = async () => controllerGetCapabilities(ctx);
  if (ctx.pools.isEmpty) return { ControllerGetCapabilities };
  return {
    ControllerGetCapabilities,
    CreateVolume: (req: Parameters<typeof createVolume>[1]) => createVolume(ctx, req),
    DeleteVolume: (req: Parameters<typeof deleteVolume>[1]) => deleteVolume(ctx, req),
    ValidateVolumeCapabilities: (req: Parameters<typeof validateVolumeCapabilities>[1]) => validateVolumeCapabilities(ctx, req),
    ListVolumes: (req: Parameters<typeof listVolumes>[1]) => listVolumes(ctx, req),
    ControllerGetVolume: (req: Parameters<typeof controllerGetVolume>[1]) => controllerGetVolume(ctx, req),
    GetCapacity: (req: Parameters<typeof getCapacity>[1]) => getCapacity(ctx, req),
    CreateSnapshot: (req: Parameters<typeof createSnapshot>[1]) => createSnapshot(ctx, req),
    DeleteSnapshot: (req: Parameters<typeof deleteSnapshot>[1]) => deleteSnapshot(ctx, req),
    ListSnapshots: (req: Parameters<typeof listSnapshots>[1]) => listSnapshots(ctx, req),
    GetSnapshot: (req: Parameters<typeof getSnapshot>[1]) => getSnapshot(ctx, req),
    ...(ctx.mode === 'shared' ? sharedModeHandlers(ctx) : {}),
  };
}

/** Attach/detach exist only in shared mode (design: Deploy modes); in local mode they stay UNIMPLEMENTED. */
function sharedModeHandlers(ctx: ServiceContext): ControllerHandlers {
  return {
    ControllerPublishVolume: (req: Parameters<typeof controllerPublishVolume>[1]) => controllerPublishVolume(ctx, req),
    ControllerUnpublishVolume: (req: Parameters<typeof controllerUnpublishVolume>[1]) => controllerUnpublishVolume(ctx, req),
    // In local mode NodeExpandVolume grows the image on the owning node (design: Deploy modes).
    ControllerExpandVolume: (req: Parameters<typeof controllerExpandVolume>[1]) => controllerExpandVolume(ctx, req),
  };
}
