import { stat } from 'node:fs/promises';
import { failedPrecondition, invalidArgument } from '../../domain/errors.js';
import { sizeForRange } from '../capacity-range.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { ensureNotFrozen } from '../../storage/freeze-sweep.js';
import { currentLoop } from './loop-attachment.js';
import { describeMount, pathState, topIsOurs } from './ownership.js';
import { nodeRequestPath, nodeVolumePath } from './paths.js';
import type { CallContext, NodeExpandVolumeRequest, NodeExpandVolumeResponse } from '../../wire/types.js';

/**
 * Online expansion on the node. In local mode the node owns the pool, so it
 * grows the image first (the central resizer's controller holds no pool);
 * in shared mode ControllerExpandVolume already did. Then the loop device
 * picks up the size, then the filesystem grows.
 */
export async function nodeExpandVolume(
  ctx: ServiceContext,
  req: NodeExpandVolumeRequest,
  call?: CallContext,
): Promise<NodeExpandVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  requireField(req.volume_path, 'volume_path');
  const volumePath = await nodeVolumePath(ctx.kubeletDir, req.volume_path, 'volume_path');
  return ctx.locks.runFor(call?.scope, `volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    // A filesystem frozen for a copy would hang this call: answer at once (design: Freeze).
    await ensureNotFrozen(vol.pool, vol.record, ctx.nodeId);
    const image = vol.pool.volumeImagePath(vol.id);
    const device = await currentLoop(ctx.host, image);
    // Checked before anything grows: an unstaged volume is expanded by kubelet after its next stage.
    if (!device) throw failedPrecondition(`volume ${vol.id} is not staged on this node; stage it before expanding`);
    const isBlock =
      Boolean(req.volume_capability?.block) ||
      !(await stat(volumePath).then(
        (s) => s.isDirectory(),
        () => true,
      ));
    // Also before anything grows: the grow tool runs only on the volume's own mount (design: Node staging).
    const mountPath = isBlock
      ? await checkBlockPath(ctx, vol, volumePath)
      : await ownMountPath(ctx, vol, volumePath, req.staging_target_path);
    const wanted = req.capacity_range ? sizeForRange(req.capacity_range) : vol.record.sizeBytes;
    const size = ctx.mode === 'local' ? (await vol.pool.expandVolume(vol.id, wanted)).sizeBytes : vol.record.sizeBytes;
    for (const loop of await ctx.host.loops.findByBackingFile(image)) await ctx.host.loops.refreshCapacity(loop.device);
    if (mountPath) await ctx.host.filesystems.grow(vol.record.fsType, device, mountPath);
    return { capacity_bytes: size };
  });
}

/** The path whose top mount is the volume's filesystem: volume_path, or else the staging path. */
async function ownMountPath(ctx: ServiceContext, vol: FoundVolume, volumePath: string, stagingPath?: string): Promise<string> {
  for (const path of [volumePath, ...(stagingPath ? [await nodeRequestPath(ctx.kubeletDir, stagingPath, 'staging_target_path')] : [])]) {
    const state = await pathState(ctx.host, vol, path);
    if (state.stack.length === 0) continue;
    if (!topIsOurs(state)) {
      throw failedPrecondition(
        `${path} has ${describeMount(state.stack[state.stack.length - 1]!)} mounted, not volume ${vol.id}; ` +
          `Quarry grows only the volume's own filesystem`,
      );
    }
    return path;
  }
  throw invalidArgument(`volume ${vol.id} is not mounted at ${volumePath}; NodeExpandVolume needs the mounted volume`);
}

/** A block volume grows no filesystem; a foreign mount at its path is still refused rather than reported grown. */
async function checkBlockPath(ctx: ServiceContext, vol: FoundVolume, volumePath: string): Promise<undefined> {
  const state = await pathState(ctx.host, vol, volumePath);
  if (state.stack.length > 0 && !topIsOurs(state)) {
    throw failedPrecondition(`${volumePath} has ${describeMount(state.stack[state.stack.length - 1]!)} mounted, not volume ${vol.id}`);
  }
  return undefined;
}
