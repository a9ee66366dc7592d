import { failedPrecondition } from '../../domain/errors.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { ensureNotFrozen } from '../../storage/freeze-sweep.js';
import { detachUnusedLoops, refuseWhileHeld } from './loop-attachment.js';
import { withoutStaging } from './node-records.js';
import { describeMount, pathState, topIsOurs } from './ownership.js';
import { nodeRequestPath } from './paths.js';
import type { CallContext, NodeUnstageVolumeRequest, NodeUnstageVolumeResponse } from '../../wire/types.js';

/**
 * Unmount the volume's own filesystem from the staging path, then detach its loop devices that
 * nothing uses any more (design: Node staging). A foreign mount at the staging path is never
 * touched: over the volume's mount it is refused (FAILED_PRECONDITION); with no trace of the
 * volume there it is left alone and the unstage succeeds. A publication still bound to the
 * volume keeps its loop device; unpublish detaches it once the volume is unstaged here. A loop
 * device another process still holds open cannot be detached at once (the kernel defers it to the
 * last close): the volume could still be written through it, so the unstage fails
 * (FAILED_PRECONDITION) and the record keeps the staging until a retry finds the device gone.
 * The staging directory itself belongs to the CO and stays.
 */
export async function nodeUnstageVolume(
  ctx: ServiceContext,
  req: NodeUnstageVolumeRequest,
  call?: CallContext,
): Promise<NodeUnstageVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const stagingPath = await nodeRequestPath(ctx.kubeletDir, req.staging_target_path, 'staging_target_path');
  return ctx.locks.runFor(call?.scope, `volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    // A filesystem frozen for a copy would hang this call: answer at once (design: Freeze).
    await ensureNotFrozen(vol.pool, vol.record, ctx.nodeId);
    await unmountOurs(ctx, vol, stagingPath);
    const left = await detachUnusedLoops(ctx.host, vol.pool.volumeImagePath(vol.id));
    if (left.mounted.length > 0) {
      ctx.logger.info({ volume_id: vol.id, devices: left.mounted }, 'loop device still in use by a publication; left attached');
    }
    refuseWhileHeld(vol.id, left);
    await vol.pool.updateVolume(vol.id, (v) => withoutStaging(v, ctx.nodeId!, stagingPath));
    return {};
  });
}

async function unmountOurs(ctx: ServiceContext, vol: FoundVolume, stagingPath: string): Promise<void> {
  for (;;) {
    const state = await pathState(ctx.host, vol, stagingPath);
    if (state.ours.length === 0) return;
    const top = state.stack[state.stack.length - 1]!;
    if (!topIsOurs(state)) {
      throw failedPrecondition(`${stagingPath} has ${describeMount(top)} mounted over volume ${vol.id}; not touching it`);
    }
    await ctx.host.mounts.unmountTop(stagingPath, top);
  }
}
