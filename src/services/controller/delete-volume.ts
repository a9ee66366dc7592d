import { invalidArgument } from '../../domain/errors.js';
import { parseVolumeId } from '../../domain/ids.js';
import type { ServiceContext } from '../context.js';
import type { CallContext, DeleteVolumeRequest, DeleteVolumeResponse } from '../../wire/types.js';

export async function deleteVolume(ctx: ServiceContext, req: DeleteVolumeRequest, call?: CallContext): Promise<DeleteVolumeResponse> {
  if (!req.volume_id) throw invalidArgument('volume_id is required');
  const id = parseVolumeId(req.volume_id);
  // A malformed ID names no volume: deleting it has nothing to do (design: IDs and paths).
  if (!id) return {};
  await ctx.locks.runFor(call?.scope, `volume:${id}`, async () => {
    const found = await ctx.pools.findVolume(id);
    if (found) await found.pool.deleteVolume(id);
  });
  return {};
}
