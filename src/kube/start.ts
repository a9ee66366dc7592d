import { parseSnapshotId, parseVolumeId, type SnapshotId, type VolumeId } from '../domain/ids.js';
import { inClusterClient } from './client.js';
import { startContentLabeler, type LabelerLog } from './content-labeler.js';

/** What the labeler needs of the running node: its names and a look into its own pools. */
export interface LabelerHost {
  driverName: string;
  nodeId?: string;
  pools: { findSnapshot(id: SnapshotId): Promise<unknown>; findVolume(id: VolumeId): Promise<unknown> };
}

/**
 * Starts the imported-snapshot labeler of a local-mode node (design: Imported snapshots in local
 * mode). A handle that is not a Quarry ID names nothing here, so its content is never labelled.
 */
export async function startLabeler(host: LabelerHost, log: LabelerLog): Promise<{ stop(): Promise<void> }> {
  if (!host.nodeId) throw new Error('the imported-snapshot labeler needs --nodeid');
  const labeler = startContentLabeler({
    client: await inClusterClient(),
    driverName: host.driverName,
    nodeId: host.nodeId,
    holdsSnapshot: async (handle) => {
      const id = parseSnapshotId(handle);
      return id !== undefined && (await host.pools.findSnapshot(id)) !== undefined;
    },
    holdsVolume: async (handle) => {
      const id = parseVolumeId(handle);
      return id !== undefined && (await host.pools.findVolume(id)) !== undefined;
    },
    log,
  });
  log.info(
    { node: host.nodeId },
    'content labeler started: unlabelled (Group)SnapshotContents of what this node holds get this node as managed-by',
  );
  return labeler;
}
