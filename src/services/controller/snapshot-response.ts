import type { SnapshotRecord } from '../../storage/records.js';

/** The Snapshot message for a record: the same answer for a create, its retries, Get and List. */
export function snapshotMessage(r: SnapshotRecord) {
  const ms = Date.parse(r.createdAt);
  return {
    snapshot_id: r.id,
    source_volume_id: r.sourceVolumeId,
    size_bytes: r.sizeBytes,
    creation_time: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
    ready_to_use: r.state === 'ready',
    group_snapshot_id: r.group?.id ?? '',
  };
}
