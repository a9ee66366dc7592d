import { invalidArgument } from '../../domain/errors.js';
import { parseVolumeId } from '../../domain/ids.js';
import type { ServiceContext } from '../context.js';
import type { DeleteVolumeRequest, DeleteVolumeResponse } from '../../wire/types.js';

export async function deleteVolume(ctx: ServiceContext, req: DeleteVolumeRequest): Promise<DeleteVolumeResponse> {
  if (!req.volume_id) throw invalidArgument('volume_id is required');
  const id = parseVolumeId(req.volume_id);
  // A malformed ID names no volume: deleting it has nothing to do (design: IDs and paths).
  if (!id) return {};
  await ctx.locks.run(`volume:${id}`, async () => {
    const found = await ctx.pools.findVolume(id);
    if (found) await found.pool.deleteVolume(id);
  });
  return {};
}
