import { unmount } from '../../host/mount.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField } from '../lookup.js';
import { ensureNotFrozen } from '../../storage/freeze-guard.js';
import { detachUnusedLoops } from './loop-attachment.js';
import { withoutStaging } from './node-records.js';
import { checkRequestPath } from './paths.js';

/**
 * Unmount the staging path (verified from mountinfo), then detach the loop
 * device if nothing else uses it. Succeeds when all is already gone, as after
 * a reboot. The staging directory itself belongs to the CO and stays.
 */
export async function nodeUnstageVolume(ctx: ServiceContext, req: { volume_id?: string; staging_target_path?: string }) {
  const rawId = requireField(req.volume_id, 'volume_id');
  const stagingPath = checkRequestPath(req.staging_target_path, 'staging_target_path');
  return ctx.locks.run(`volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    // A filesystem frozen for a copy would hang this call: answer at once (design: Freeze).
    await ensureNotFrozen(vol.pool, vol.record, ctx.nodeId);
    await unmount(stagingPath);
    const busy = await detachUnusedLoops(vol.pool.volumeImagePath(vol.id));
    if (busy.length > 0) {
      ctx.logger.info({ volume_id: vol.id, devices: busy }, 'loop device still in use elsewhere; left attached');
    }
    await vol.pool.updateVolume(vol.id, (v) => withoutStaging(v, ctx.nodeId!, stagingPath));
    return {};
  });
}
