import { access, constants, stat } from 'node:fs/promises';
import { notFound } from '../../domain/errors.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { nodeVolumePath } from './paths.js';
import type { NodeGetVolumeStatsRequest, NodeGetVolumeStatsResponse } from '../../wire/types.js';

/** Bytes and inodes for a filesystem volume, bytes for a block volume, and the volume's condition. */
export async function nodeGetVolumeStats(ctx: ServiceContext, req: NodeGetVolumeStatsRequest): Promise<NodeGetVolumeStatsResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  requireField(req.volume_path, 'volume_path');
  const volumePath = await nodeVolumePath(ctx.kubeletDir, req.volume_path, 'volume_path');
  const vol = await requireVolume(ctx, rawId);
  const info = await stat(volumePath).catch(() => undefined);
  if (!info) throw notFound(`${volumePath} does not exist`);
  const mounted = await ctx.host.mounts.top(volumePath);
  // Read from /sys, no losetup fork: the loop the path shows, then whether it is this volume's.
  const shown = mounted && (info.isDirectory() ? await ctx.host.loops.ofMount(mounted) : await ctx.host.loops.ofDeviceNode(volumePath));
  const device = shown && (await isVolumeLoop(ctx, vol, shown)) ? shown : undefined;
  if (!device) {
    if (mounted || !isRecordedPath(vol, volumePath)) throw notFound(`${volumePath} holds no Quarry volume ${vol.id}`);
    return { usage: [], volume_condition: { abnormal: true, message: `volume ${vol.id} is no longer mounted at ${volumePath}` } };
  }
  const volume_condition = (await imageCondition(vol)) ?? (await spaceCondition(vol));
  if (!info.isDirectory()) {
    const total = await ctx.host.filesystems.deviceSizeBytes(device);
    return { usage: [{ unit: 'BYTES' as const, total, available: 0, used: 0 }], volume_condition };
  }
  const fs = await ctx.host.filesystems.stats(volumePath);
  return {
    usage: [
      { unit: 'BYTES' as const, total: fs.totalBytes, available: fs.availableBytes, used: fs.usedBytes },
      { unit: 'INODES' as const, total: fs.totalInodes, available: fs.freeInodes, used: fs.usedInodes },
    ],
    volume_condition,
  };
}

function recordedDevice(ctx: ServiceContext, vol: FoundVolume): string | undefined {
  return vol.record.staging.find((s) => s.nodeId === ctx.nodeId && s.device)?.device;
}

/**
 * Whether a loop device is the volume's: backed by its image (device+inode). The image
 * vanishing is a condition to report, not a reason for NOT_FOUND: a deleted image is matched by
 * its name, and a renamed-away one by the device recorded at stage.
 */
async function isVolumeLoop(ctx: ServiceContext, vol: FoundVolume, device: string): Promise<boolean> {
  const image = vol.pool.volumeImagePath(vol.id);
  const identity = await ctx.host.loops.fileIdentity(image);
  if (identity) return ctx.host.loops.isBackedBy(device, identity);
  return device === recordedDevice(ctx, vol) || (await ctx.host.loops.backedByDeletedImage(device, image));
}

function isRecordedPath(vol: FoundVolume, path: string): boolean {
  return vol.record.publications.some((p) => p.targetPath === path) || vol.record.staging.some((s) => s.stagingPath === path);
}

async function imageCondition(vol: FoundVolume) {
  try {
    await access(vol.pool.volumeImagePath(vol.id), constants.R_OK | constants.W_OK);
  } catch (err) {
    return { abnormal: true, message: `the backing image is missing or unreadable: ${(err as Error).message}` };
  }
  return undefined;
}

/** A thin volume turns abnormal before its pool runs out of space for it (design: Capacity). */
async function spaceCondition(vol: FoundVolume) {
  const why = vol.record.provisioning === 'thin' ? await vol.pool.spaceCondition() : undefined;
  return why ? { abnormal: true, message: why } : { abnormal: false, message: 'volume is healthy' };
}
