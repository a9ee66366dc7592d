import { invalidArgument, notFound } from '../../domain/errors.js';
import { parseGroupSnapshotId } from '../../domain/ids.js';
import type { ServiceContext } from '../context.js';
import { checkSnapshotIds, findGroup, isWhole } from './find-group.js';
import { groupSnapshotMessage } from './group-response.js';
import type { GetVolumeGroupSnapshotRequest, GetVolumeGroupSnapshotResponse } from '../../wire/types.js';

/** A group a crash left half-made is not a group: NOT_FOUND until a retry of its creation makes it whole. */
export async function getVolumeGroupSnapshot(
  ctx: ServiceContext,
  req: GetVolumeGroupSnapshotRequest,
): Promise<GetVolumeGroupSnapshotResponse> {
  if (!req.group_snapshot_id) throw invalidArgument('group_snapshot_id is required');
  const id = parseGroupSnapshotId(req.group_snapshot_id);
  const found = id && (await findGroup(ctx, id));
  if (!id || !found || !isWhole(found)) throw notFound(`group snapshot ${req.group_snapshot_id} does not exist`);
  checkSnapshotIds(id, found.members, req.snapshot_ids);
  return { group_snapshot: groupSnapshotMessage(id, found.members) };
}
