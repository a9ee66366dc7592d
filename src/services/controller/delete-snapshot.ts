import { invalidArgument } from '../../domain/errors.js';
import { parseSnapshotId } from '../../domain/ids.js';
import { deleteSnapshot as deletePoolSnapshot } from '../../storage/snapshots.js';
import type { ServiceContext } from '../context.js';
import type { CallContext, DeleteSnapshotRequest, DeleteSnapshotResponse } from '../../wire/types.js';

/** Idempotent: a malformed or unknown ID names nothing, so there is nothing to delete (design: IDs and paths). */
export async function deleteSnapshot(ctx: ServiceContext, req: DeleteSnapshotRequest, call?: CallContext): Promise<DeleteSnapshotResponse> {
  if (!req.snapshot_id) throw invalidArgument('snapshot_id is required');
  const id = parseSnapshotId(req.snapshot_id);
  if (!id) return {};
  await ctx.locks.runFor(call?.scope, `snapshot:${id}`, async () => {
    const found = await ctx.pools.findSnapshot(id);
    if (found) await deletePoolSnapshot(found.pool, id);
  });
  return {};
}
