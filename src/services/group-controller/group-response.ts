import type { SnapshotRecord } from '../../storage/records.js';
import { snapshotMessage } from '../controller/snapshot-response.js';

/** The VolumeGroupSnapshot message: members share one creation time, the instant they were frozen at. */
export function groupSnapshotMessage(groupId: string, members: SnapshotRecord[]) {
  const snapshots = members.map(snapshotMessage);
  return {
    group_snapshot_id: groupId,
    snapshots,
    creation_time: snapshots[0]?.creation_time,
    ready_to_use: members.every((m) => m.state === 'ready'),
  };
}
