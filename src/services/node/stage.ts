import { mkdir } from 'node:fs/promises';
import { alreadyExists, failedPrecondition, invalidArgument } from '../../domain/errors.js';
import type { Capability, FsType } from '../../domain/volume.js';
import { probeDevice, describeProbe } from '../../host/blkid.js';
import { makeFilesystem } from '../../host/mkfs.js';
import { mount } from '../../host/mount.js';
import { growFilesystem } from '../../host/resize.js';
import { checkExt4, ext4SizeBytes, growExt4Offline } from '../../host/e2fs.js';
import { deviceSizeBytes } from '../../host/blockdev.js';
import { MiB } from '../../domain/bytes.js';
import { filesystemStats } from '../../host/statfs.js';
import { decodeCapability, type WireVolumeCapability } from '../capabilities.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { detachUnusedLoops, ensureLoop } from './loop-attachment.js';
import { withStaging, withoutStaging } from './node-records.js';
import { describeMount, pathState, topIsOurs } from './ownership.js';
import { checkRequestPath } from './paths.js';
import { checkAttachment, stagingCapability } from './shared-attachment.js';

export interface StageWire {
  volume_id?: string;
  staging_target_path?: string;
  volume_capability?: WireVolumeCapability | null;
  publish_context?: Record<string, string>;
  volume_context?: Record<string, string>;
}

/**
 * Attach the image, give a blank device its filesystem, mount it at the
 * staging path. The staging entry is recorded first, so DeleteVolume refuses
 * a volume that a crash left half-staged, and a retry finishes the job.
 */
export async function nodeStageVolume(ctx: ServiceContext, req: StageWire) {
  const rawId = requireField(req.volume_id, 'volume_id');
  const stagingPath = checkRequestPath(req.staging_target_path, 'staging_target_path');
  if (!req.volume_capability) throw invalidArgument('volume_capability is required');
  const cap = decodeCapability(req.volume_capability);
  return ctx.locks.run(`volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    const staged = stagingCapability(cap, checkAttachment(ctx, vol.record, req.publish_context));
    const fsType = chooseFsType(vol, cap);
    const nodeId = ctx.nodeId!;
    // Before any record or loop device: a path that shows another volume or a foreign mount is refused untouched.
    await checkStagingPathFree(vol, stagingPath);
    await vol.pool.updateVolume(vol.id, (v) =>
      withStaging(v, { nodeId, stagingPath, accessType: cap.accessType }),
    );
    try {
      const device = await ensureLoop(ctx, vol.pool.volumeImagePath(vol.id), staged.readOnly);
      if (cap.accessType === 'mount') await stageFilesystem(vol, device, stagingPath, fsType, staged.cap);
      await vol.pool.updateVolume(vol.id, (v) =>
        withStaging(v, { nodeId, stagingPath, accessType: cap.accessType, device }),
      );
    } catch (err) {
      await rollback(ctx, vol, stagingPath);
      throw err;
    }
    return {};
  });
}

function chooseFsType(vol: FoundVolume, cap: Capability): FsType {
  if (cap.accessType === 'mount' && cap.fsType && cap.fsType !== vol.record.fsType) {
    throw invalidArgument(`volume ${vol.id} is ${vol.record.fsType}; it cannot be staged as ${cap.fsType}`);
  }
  return vol.record.fsType;
}

async function checkStagingPathFree(vol: FoundVolume, stagingPath: string) {
  const state = await pathState(vol, stagingPath);
  const top = state.stack[state.stack.length - 1];
  if (top && !topIsOurs(state)) {
    throw alreadyExists(`${stagingPath} already has ${describeMount(top)} mounted, not volume ${vol.id}; nothing was changed`);
  }
}

async function stageFilesystem(vol: FoundVolume, device: string, stagingPath: string, fsType: FsType, cap: Capability) {
  await mkdir(stagingPath, { recursive: true });
  const state = await pathState(vol, stagingPath);
  if (state.stack.length > 0) {
    if (!topIsOurs(state)) throw alreadyExists(`${stagingPath} already has ${describeMount(state.stack[state.stack.length - 1]!)} mounted, not volume ${vol.id}`);
    return; // already staged: idempotent
  }
  const probe = await probeDevice(device);
  if (probe.kind === 'blank') {
    await makeFilesystem(device, fsType, { options: SECTOR_PROOF_MKFS[fsType] });
  } else if (probe.kind !== 'filesystem' || probe.fsType !== fsType) {
    throw failedPrecondition(
      `volume ${vol.id} holds ${describeProbe(probe)}, not ${fsType}; Quarry never formats a device that is not blank`,
    );
  }
  if (fsType === 'ext4') await growExt4BeforeMount(device);
  // Snapshots and clones carry their source's XFS UUID; without nouuid a restore will not mount next to its source.
  const options = [...(cap.mountFlags ?? []), ...(fsType === 'xfs' ? ['nouuid'] : [])];
  await mount({ source: device, target: stagingPath, fsType, options });
  if (fsType !== 'ext4') await growIfSmaller(vol, device, stagingPath, fsType);
}

/**
 * A restore or clone into a larger volume has a filesystem smaller than its
 * device. ext4 is grown before it is mounted: offline growth needs no
 * CAP_SYS_RESOURCE, and the check it requires also replays the journal of a
 * crash-consistent snapshot.
 */
async function growExt4BeforeMount(device: string) {
  if ((await ext4SizeBytes(device)) + MiB > (await deviceSizeBytes(device))) return;
  await checkExt4(device);
  await growExt4Offline(device);
}

/**
 * 4 KiB sectors and blocks: a loop device with direct I/O takes the backing file's
 * DIO alignment as its sector size, and on XFS that becomes 4096 once the image
 * shares extents (a snapshot or clone). A filesystem made for 512-byte sectors
 * (or ext4's 1 KiB blocks on small volumes) would then no longer mount.
 */
const SECTOR_PROOF_MKFS: Record<FsType, string[]> = { ext4: ['-b', '4096'], xfs: ['-s', 'size=4096'], btrfs: [] };

/** A restored or cloned xfs or btrfs volume larger than its source grows online on first stage. */
async function growIfSmaller(vol: FoundVolume, device: string, stagingPath: string, fsType: FsType) {
  const stats = await filesystemStats(stagingPath);
  // Filesystems keep some space for metadata; only a clearly smaller one is grown.
  if (stats.totalBytes < vol.record.sizeBytes * 0.9) await growFilesystem(fsType, device, stagingPath);
}

async function rollback(ctx: ServiceContext, vol: FoundVolume, stagingPath: string) {
  try {
    // The volume's own mount stays (a retry or unstage finishes); anything else there is not ours to touch.
    if ((await pathState(vol, stagingPath)).ours.length === 0) {
      await detachUnusedLoops(vol.pool.volumeImagePath(vol.id));
      await vol.pool.updateVolume(vol.id, (v) => withoutStaging(v, ctx.nodeId!, stagingPath));
    }
  } catch (err) {
    ctx.logger.warn({ volume_id: vol.id, err: (err as Error).message }, 'could not roll back a failed stage; a retry or unstage will');
  }
}
