import { echo } from '../../domain/clip.js';
import { invalidArgument, notFound } from '../../domain/errors.js';
import { parseVolumeId } from '../../domain/ids.js';
import type { ServiceContext } from '../context.js';
import { publishedNodes, volumeCondition } from './volume-condition.js';
import { volumeMessage } from './volume-response.js';
import type { ControllerGetVolumeRequest, ControllerGetVolumeResponse } from '../../wire/types.js';

/** GET_VOLUME with VOLUME_CONDITION: the volume as recorded, and its health now (design: Volume health). */
export async function controllerGetVolume(ctx: ServiceContext, req: ControllerGetVolumeRequest): Promise<ControllerGetVolumeResponse> {
  if (!req.volume_id) throw invalidArgument('volume_id is required');
  const id = parseVolumeId(req.volume_id);
  const found = id && (await ctx.pools.findVolume(id));
  if (found?.record.state !== 'ready') throw notFound(`volume ${echo(req.volume_id)} does not exist`);
  const { pool, record } = found;
  return {
    volume: volumeMessage(ctx, record),
    status: { published_node_ids: publishedNodes(ctx, record), volume_condition: await volumeCondition(pool, record) },
  };
}
