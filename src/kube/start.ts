import { parseSnapshotId, type SnapshotId } from '../domain/ids.js';
import { inClusterClient } from './client.js';
import { startImportedSnapshotLabeler, type LabelerLog } from './imported-snapshots.js';

/** What the labeler needs of the running node: its names and a look into its own pools. */
export interface LabelerHost {
  driverName: string;
  nodeId?: string;
  pools: { findSnapshot(id: SnapshotId): Promise<unknown> };
}

/**
 * Starts the imported-snapshot labeler of a local-mode node (design: Imported snapshots in local
 * mode). A handle that is not a Quarry snapshot ID names nothing here, so it is never labelled.
 */
export async function startLabeler(host: LabelerHost, log: LabelerLog): Promise<{ stop(): Promise<void> }> {
  if (!host.nodeId) throw new Error('the imported-snapshot labeler needs --nodeid');
  const labeler = startImportedSnapshotLabeler({
    client: await inClusterClient(),
    driverName: host.driverName,
    nodeId: host.nodeId,
    holdsSnapshot: async (handle) => {
      const id = parseSnapshotId(handle);
      return id !== undefined && (await host.pools.findSnapshot(id)) !== undefined;
    },
    log,
  });
  log.info(
    { node: host.nodeId },
    'imported-snapshot labeler started: unlabelled VolumeSnapshotContents held here get this node as managed-by',
  );
  return labeler;
}
