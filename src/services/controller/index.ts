import type { ControllerHandlers } from '../../wire/types.js';
import { bindHandlers, type HandlerTable } from '../bind.js';
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
import { controllerGetVolume } from './get-volume.js';
import { controllerModifyVolume } from './modify-volume.js';
import { listVolumes } from './list-volumes.js';
import { controllerPublishVolume } from './publish-volume.js';
import { controllerUnpublishVolume } from './unpublish-volume.js';
import { validateVolumeCapabilities } from './validate-capabilities.js';

/**
 * CSI Controller handlers. Methods left out answer UNIMPLEMENTED at the wire;
 * a controller with no pool (the resizer's stub) offers only its capabilities.
 */
const CAPABILITIES: HandlerTable<ControllerHandlers> = {
  ControllerGetCapabilities: async (ctx) => controllerGetCapabilities(ctx),
};

const POOLED: HandlerTable<ControllerHandlers> = {
  ...CAPABILITIES,
  CreateVolume: createVolume,
  DeleteVolume: deleteVolume,
  ValidateVolumeCapabilities: validateVolumeCapabilities,
  ListVolumes: listVolumes,
  ControllerGetVolume: controllerGetVolume,
  GetCapacity: getCapacity,
  CreateSnapshot: createSnapshot,
  DeleteSnapshot: deleteSnapshot,
  ListSnapshots: listSnapshots,
  GetSnapshot: getSnapshot,
};

/** Attach/detach exist only in shared mode (design: Deploy modes); in local mode they stay UNIMPLEMENTED. */
const SHARED: HandlerTable<ControllerHandlers> = {
  ...POOLED,
  ControllerPublishVolume: controllerPublishVolume,
  ControllerUnpublishVolume: controllerUnpublishVolume,
  // In local mode NodeExpandVolume grows the image on the owning node (design: Deploy modes).
  ControllerExpandVolume: controllerExpandVolume,
  // VolumeAttributesClass changes go through the central external-resizer, which reaches pools only in shared mode.
  ControllerModifyVolume: controllerModifyVolume,
};

export function controllerService(ctx: ServiceContext): ControllerHandlers {
  if (ctx.pools.isEmpty) return bindHandlers(ctx, CAPABILITIES);
  return bindHandlers(ctx, ctx.mode === 'shared' ? SHARED : POOLED);
}
