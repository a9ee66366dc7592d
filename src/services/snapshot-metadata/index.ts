import type { SnapshotMetadataHandlers } from '../../wire/types.js';
import { bindHandlers, type HandlerTable } from '../bind.js';
import type { ServiceContext } from '../context.js';
import { getMetadataAllocated } from './get-metadata-allocated.js';
import { getMetadataDelta } from './get-metadata-delta.js';

const SNAPSHOT_METADATA: HandlerTable<SnapshotMetadataHandlers> = {
  GetMetadataAllocated: getMetadataAllocated,
  GetMetadataDelta: getMetadataDelta,
};

/**
 * Whether this process serves CSI SnapshotMetadata: only where the snapshot images are, a
 * controller with pools (local mode: `quarry all` on each node; shared mode: the controller).
 * A node-only process or the pool-less local controller stub has no image to read
 * (design: Changed-block metadata).
 */
export function servesSnapshotMetadata(ctx: ServiceContext, servesController: boolean): boolean {
  return servesController && !ctx.pools.isEmpty;
}

/** CSI SnapshotMetadata: allocated and changed blocks of snapshots, from extent maps. */
export function snapshotMetadataService(ctx: ServiceContext): SnapshotMetadataHandlers {
  return bindHandlers(ctx, SNAPSHOT_METADATA);
}
