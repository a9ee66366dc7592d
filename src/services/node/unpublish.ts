import { lstat, rm, rmdir } from 'node:fs/promises';
import { failedPrecondition } from '../../domain/errors.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { detachUnusedLoops, refuseWhileHeld } from './loop-attachment.js';
import { withoutPublication } from './node-records.js';
import { describeMount, pathState, topIsOurs } from './ownership.js';
import { nodeRequestPath } from './paths.js';
import type { CallContext, NodeUnpublishVolumeRequest, NodeUnpublishVolumeResponse } from '../../wire/types.js';

/**
 * Undo this volume's publication at the target, and nothing else (design: Node staging):
 * - unmount only the volume's own mounts there (shown by its loop devices). Mounts stacked on
 *   top of them are taken off too only where the record says the volume is published at that
 *   target: they hide the publication the CO asks to undo. A foreign mount above the volume at
 *   a path it was never published to is refused (FAILED_PRECONDITION);
 * - remove the target (an empty directory or empty file, never recursively) only where the
 *   record says Quarry published there, and only once mountinfo shows nothing there;
 * - a target that holds no trace of the volume is left as it is: success, nothing touched;
 * - a volume no longer staged on this node has its now unused loop devices detached here, so
 *   unstage-before-unpublish leaves no loop behind for DeleteVolume; one another process still
 *   holds open fails the call (FAILED_PRECONDITION) until a retry finds it gone (refuseWhileHeld).
 */
export async function nodeUnpublishVolume(
  ctx: ServiceContext,
  req: NodeUnpublishVolumeRequest,
  call?: CallContext,
): Promise<NodeUnpublishVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const targetPath = await nodeRequestPath(ctx.kubeletDir, req.target_path, 'target_path');
  return ctx.locks.runFor(call?.scope, `volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    const recorded = vol.record.publications.some((p) => p.nodeId === ctx.nodeId && p.targetPath === targetPath);
    const unmounted = await unmountOurs(ctx, vol, targetPath, recorded);
    if ((recorded || unmounted) && (await ctx.host.mounts.at(targetPath)).length === 0) await removeTarget(targetPath);
    await vol.pool.updateVolume(vol.id, (v) => withoutPublication(v, ctx.nodeId!, targetPath));
    if (!vol.record.staging.some((s) => s.nodeId === ctx.nodeId)) {
      refuseWhileHeld(vol.id, await detachUnusedLoops(ctx.host, vol.pool.volumeImagePath(vol.id)));
    }
    return {};
  });
}

/** Takes the volume's mounts off the target, top first; returns whether there were any. */
async function unmountOurs(ctx: ServiceContext, vol: FoundVolume, targetPath: string, recorded: boolean): Promise<boolean> {
  let state = await pathState(ctx.host, vol, targetPath);
  if (state.ours.length === 0) return false;
  const lowest = state.ours[0]!;
  for (;;) {
    const top = state.stack[state.stack.length - 1];
    if (!top || !state.stack.some((m) => m.mountId === lowest.mountId)) return true;
    if (!topIsOurs(state) && !recorded) {
      throw failedPrecondition(
        `${targetPath} has ${describeMount(top)} mounted over volume ${vol.id}, and the volume is not recorded as published there; ` +
          `not touching it`,
      );
    }
    await ctx.host.mounts.unmountTop(targetPath, top);
    state = await pathState(ctx.host, vol, targetPath);
  }
}

/** Removes what publish made at the target: an empty directory, or the empty file a block volume was bound onto. */
async function removeTarget(targetPath: string) {
  let info;
  try {
    info = await lstat(targetPath);
  } catch {
    return; // already gone
  }
  if (info.isDirectory()) {
    await rmdir(targetPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST')
        throw failedPrecondition(`${targetPath} is not empty; Quarry removes only the empty directory it published into`);
      throw err;
    });
  } else if (info.isFile() && info.size === 0) {
    await rm(targetPath, { recursive: false });
  } else {
    throw failedPrecondition(
      `${targetPath} is a ${info.isSymbolicLink() ? 'symbolic link' : info.isFile() ? 'non-empty file' : 'special file'}; ` +
        `Quarry removes only the empty file or directory it published into`,
    );
  }
}
