import { invalidArgument, notFound } from '../../domain/errors.js';
import { parseSnapshotId } from '../../domain/ids.js';
import type { ServiceContext } from '../context.js';
import { snapshotMessage } from './snapshot-response.js';
import type { GetSnapshotRequest, GetSnapshotResponse } from '../../wire/types.js';

export async function getSnapshot(ctx: ServiceContext, req: GetSnapshotRequest): Promise<GetSnapshotResponse> {
  if (!req.snapshot_id) throw invalidArgument('snapshot_id is required');
  const id = parseSnapshotId(req.snapshot_id);
  const found = id && (await ctx.pools.findSnapshot(id));
  if (found?.record.state !== 'ready') throw notFound(`snapshot ${req.snapshot_id} does not exist`);
  return { snapshot: snapshotMessage(found.record) };
}
