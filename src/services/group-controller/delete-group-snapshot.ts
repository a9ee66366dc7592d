import { invalidArgument } from '../../domain/errors.js';
import { parseGroupSnapshotId, type SnapshotId } from '../../domain/ids.js';
import { discardMembers } from '../../storage/group-snapshots.js';
import type { ServiceContext } from '../context.js';
import { checkSnapshotIds, findGroup } from './find-group.js';
import type { CallContext, DeleteVolumeGroupSnapshotRequest, DeleteVolumeGroupSnapshotResponse } from '../../wire/types.js';

/** Idempotent: a group with no member left is deleted. Every member goes, whole group or not. */
export async function deleteVolumeGroupSnapshot(
  ctx: ServiceContext,
  req: DeleteVolumeGroupSnapshotRequest,
  call?: CallContext,
): Promise<DeleteVolumeGroupSnapshotResponse> {
  if (!req.group_snapshot_id) throw invalidArgument('group_snapshot_id is required');
  const id = parseGroupSnapshotId(req.group_snapshot_id);
  if (!id) return {};
  await ctx.locks.runFor(call?.scope, `group:${id}`, async () => {
    const found = await findGroup(ctx, id);
    if (!found) return;
    checkSnapshotIds(id, found.members, req.snapshot_ids);
    await discardMembers(
      found.pool,
      found.members.map((m) => m.id as SnapshotId),
    );
  });
  return {};
}
