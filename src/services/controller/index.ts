import type { ControllerHandlers } from '../../wire/types.js';
import type { ServiceContext } from '../context.js';
import { controllerGetCapabilities } from './capabilities.js';
import { createVolume } from './create-volume.js';
import { deleteVolume } from './delete-volume.js';
import { getCapacity } from './get-capacity.js';
import { controllerGetVolume, listVolumes } from './list-volumes.js';
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
  };
}
