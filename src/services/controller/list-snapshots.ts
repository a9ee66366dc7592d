import { invalidArgument } from '../../domain/errors.js';
import { parseSnapshotId, parseVolumeId } from '../../domain/ids.js';
import type { SnapshotRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';
import { paginate } from './page-token.js';
import { snapshotMessage } from './snapshot-response.js';
import type { ListSnapshotsRequest, ListSnapshotsResponse } from '../../wire/types.js';

/** Ready snapshots in ID order with keyset pagination. A filter naming nothing (or malformed) lists nothing. */
export async function listSnapshots(ctx: ServiceContext, req: ListSnapshotsRequest): Promise<ListSnapshotsResponse> {
  const max = req.max_entries ?? 0;
  if (max < 0) throw invalidArgument('max_entries must not be negative');
  const byId = req.snapshot_id ? (parseSnapshotId(req.snapshot_id) ?? null) : undefined;
  const bySource = req.source_volume_id ? (parseVolumeId(req.source_volume_id) ?? null) : undefined;
  let all: SnapshotRecord[] = [];
  if (byId !== null && bySource !== null) {
    for (const pool of ctx.pools.pools.values()) {
      for (const r of await pool.listSnapshots()) {
        if (r.state !== 'ready') continue;
        if (byId && r.id !== byId) continue;
        if (bySource && r.sourceVolumeId !== bySource) continue;
        all.push(r);
      }
    }
    all = all.sort((a, b) => (a.id < b.id ? -1 : 1));
  }
  const { page, next_token } = paginate(all, (r) => r.id, req.starting_token, max);
  return { entries: page.map((r) => ({ snapshot: snapshotMessage(r) })), next_token };
}
