import { access, constants, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { notFound } from '../../domain/errors.js';
import { deviceSizeBytes } from '../../host/blockdev.js';
import { findLoopsByBackingFile } from '../../host/losetup.js';
import { splitDev, topMountAt, type MountInfoEntry } from '../../host/mountinfo.js';
import { filesystemStats } from '../../host/statfs.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { volumePathOrNotFound } from './paths.js';

/** Bytes and inodes for a filesystem volume, bytes for a block volume, and the volume's condition. */
export async function nodeGetVolumeStats(ctx: ServiceContext, req: { volume_id?: string; volume_path?: string }) {
  const rawId = requireField(req.volume_id, 'volume_id');
  requireField(req.volume_path, 'volume_path');
  const volumePath = volumePathOrNotFound(req.volume_path, 'volume_path');
  const vol = await requireVolume(ctx, rawId);
  const info = await stat(volumePath).catch(() => undefined);
  if (!info) throw notFound(`${volumePath} does not exist`);
  const mounted = await topMountAt(volumePath);
  // Deleted backing files count too: the image vanishing is a condition to report, not a reason for NOT_FOUND.
  // A renamed-away image no longer names its loop device; the one recorded at stage still does.
  const device = (await findLoopsByBackingFile(vol.pool.volumeImagePath(vol.id)))[0]?.device ?? recordedDevice(ctx, vol);
  const ours = mounted !== undefined && device !== undefined && (await showsDevice(mounted, device, info.isDirectory()));
  if (!ours) {
    if (mounted || !isRecordedPath(vol, volumePath)) throw notFound(`${volumePath} holds no Quarry volume ${vol.id}`);
    return { usage: [], volume_condition: { abnormal: true, message: `volume ${vol.id} is no longer mounted at ${volumePath}` } };
  }
  const volume_condition = await imageCondition(vol);
  if (!info.isDirectory()) {
    const total = await deviceSizeBytes(device!);
    return { usage: [{ unit: 'BYTES' as const, total, available: 0, used: 0 }], volume_condition };
  }
  const fs = await filesystemStats(volumePath);
  return {
    usage: [
      { unit: 'BYTES' as const, total: fs.totalBytes, available: fs.availableBytes, used: fs.usedBytes },
      { unit: 'INODES' as const, total: fs.totalInodes, available: fs.freeInodes, used: fs.usedInodes },
    ],
    volume_condition,
  };
}

/** A filesystem mount shows the loop device's numbers; a block bind shows devtmpfs rooted at the node. */
async function showsDevice(m: MountInfoEntry, device: string, isDirectory: boolean): Promise<boolean> {
  if (!isDirectory) return m.root === `/${basename(device)}`;
  // btrfs shows an anonymous device number; only the source names its device.
  if (m.source === device) return true;
  const { major, minor } = splitDev((await stat(device, { bigint: true })).rdev);
  return m.major === major && m.minor === minor;
}

function recordedDevice(ctx: ServiceContext, vol: FoundVolume): string | undefined {
  return vol.record.staging.find((s) => s.nodeId === ctx.nodeId && s.device)?.device;
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
  return { abnormal: false, message: 'volume is healthy' };
}
