import { changeProvisioning } from '../../storage/provisioning-change.js';
import type { ServiceContext } from '../context.js';
import { requireVolume } from '../lookup.js';
import { parseMutableParameters } from './mutable-parameters.js';
import type { CallContext, ControllerModifyVolumeRequest, ControllerModifyVolumeResponse } from '../../wire/types.js';

/**
 * ControllerModifyVolume, shared mode only (design: Volume attributes): the central controller
 * reaches every pool. In local mode the central external-resizer has no pool to act on, so the
 * capability is not advertised there.
 */
export async function controllerModifyVolume(
  ctx: ServiceContext,
  req: ControllerModifyVolumeRequest,
  call?: CallContext,
): Promise<ControllerModifyVolumeResponse> {
  const found = await requireVolume(ctx, req.volume_id);
  const wanted = parseMutableParameters(req.mutable_parameters);
  await ctx.locks.runFor(call?.scope, `volume:${found.id}`, async () => {
    if (!wanted.provisioning) return;
    const { spaceReturnedLater } = await changeProvisioning(found.pool, found.id, wanted.provisioning);
    if (spaceReturnedLater) {
      ctx.logger.info(
        { volume_id: found.id },
        'volume is thin now; it is in use, so its zeroed blocks come back as its filesystem discards them',
      );
    }
  });
  return {};
}
