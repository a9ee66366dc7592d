import { mkdir } from 'node:fs/promises';
import { alreadyExists, failedPrecondition, invalidArgument } from '../../domain/errors.js';
import type { Capability, FsType } from '../../domain/volume.js';
import { MiB } from '../../domain/bytes.js';
import { decodeCapability } from '../capabilities.js';
import type { ServiceContext } from '../context.js';
import type { HostOps } from '../host-ops.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { ensureNotFrozen } from '../../storage/freeze-sweep.js';
import { detachUnusedLoops, ensureLoop } from './loop-attachment.js';
import { withStaging, withoutStaging } from './node-records.js';
import { describeMount, mountsOfVolume, pathState, topIsOurs, volumeLoops } from './ownership.js';
import { faultPoint } from '../../storage/fault-points.js';
import { nodeRequestPath } from './paths.js';
import { checkAttachment, stagingCapability } from './shared-attachment.js';
import type { CallContext, NodeStageVolumeRequest, NodeStageVolumeResponse } from '../../wire/types.js';

/**
 * Attach the image, give a blank device its filesystem, mount it at the
 * staging path. The staging entry is recorded first, so DeleteVolume refuses
 * a volume that a crash left half-staged, and a retry finishes the job.
 */
export async function nodeStageVolume(
  ctx: ServiceContext,
  req: NodeStageVolumeRequest,
  call?: CallContext,
): Promise<NodeStageVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const stagingPath = await nodeRequestPath(ctx.kubeletDir, req.staging_target_path, 'staging_target_path');
  if (!req.volume_capability) throw invalidArgument('volume_capability is required');
  const cap = decodeCapability(req.volume_capability);
  return ctx.locks.runFor(call?.scope, `volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    // A filesystem frozen for a copy would hang this call: answer at once (design: Freeze).
    await ensureNotFrozen(vol.pool, vol.record, ctx.nodeId);
    const staged = stagingCapability(cap, checkAttachment(ctx, vol.record, req.publish_context));
    const fsType = chooseFsType(vol, cap);
    const nodeId = ctx.nodeId!;
    // Before any record or loop device: a path that shows another volume or a foreign mount is refused untouched.
    await checkStagingPathFree(ctx.host, vol, stagingPath);
    await vol.pool.updateVolume(vol.id, (v) => withStaging(v, { nodeId, stagingPath, accessType: cap.accessType }));
    try {
      const device = await ensureLoop(ctx, vol.pool.volumeImagePath(vol.id), staged.readOnly);
      if (cap.accessType === 'mount') await stageFilesystem(ctx.host, vol, device, stagingPath, fsType, staged.cap);
      await vol.pool.updateVolume(vol.id, (v) => {
        const next = withStaging(v, { nodeId, stagingPath, accessType: cap.accessType, device });
        // Mounted: the filesystem is finished, whoever made it; from now on it is never formatted over.
        return cap.accessType === 'mount' && v.formatState !== 'done' ? { ...next, formatState: 'done' } : next;
      });
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

async function checkStagingPathFree(host: HostOps, vol: FoundVolume, stagingPath: string) {
  const state = await pathState(host, vol, stagingPath);
  const top = state.stack[state.stack.length - 1];
  if (top && !topIsOurs(state)) {
    throw alreadyExists(`${stagingPath} already has ${describeMount(top)} mounted, not volume ${vol.id}; nothing was changed`);
  }
}

async function stageFilesystem(host: HostOps, vol: FoundVolume, device: string, stagingPath: string, fsType: FsType, cap: Capability) {
  await mkdir(stagingPath, { recursive: true });
  const state = await pathState(host, vol, stagingPath);
  if (state.stack.length > 0) {
    if (!topIsOurs(state))
      throw alreadyExists(
        `${stagingPath} already has ${describeMount(state.stack[state.stack.length - 1]!)} mounted, not volume ${vol.id}`,
      );
    return; // already staged: idempotent
  }
  await formatIfOurs(host, vol, device, fsType);
  if (fsType === 'ext4') await growExt4BeforeMount(host, device);
  const own = ownMountOptions(vol, fsType);
  await mountWithFlags(host, device, stagingPath, fsType, own, cap.mountFlags ?? []);
  if (fsType !== 'ext4') await growIfSmaller(host, vol, device, stagingPath, fsType);
}

/**
 * Options Quarry adds itself. Snapshots and clones carry their source's XFS UUID: without nouuid
 * a restore will not mount next to its source. A thick ext4 never runs the kernel's lazy inode
 * table initialiser (it zeroes groups that growth adds through WRITE_ZEROES, which the loop
 * device turns into holes punched in the preallocated image).
 */
function ownMountOptions(vol: FoundVolume, fsType: FsType): string[] {
  if (fsType === 'xfs') return ['nouuid'];
  if (fsType === 'ext4' && isThick(vol)) return ['noinit_itable'];
  return [];
}

/**
 * Mounts with the CO's mount flags. When mount(8) refuses an option, the error names it
 * (INVALID_ARGUMENT) instead of passing on mount's output: from the new mount API's message when
 * it names it, otherwise by mounting with each flag alone (each trial taken off again at once).
 */
async function mountWithFlags(host: HostOps, device: string, target: string, fsType: FsType, own: string[], flags: string[]) {
  try {
    await host.mounts.mount({ source: device, target, fsType, options: [...flags, ...own] });
    return;
  } catch (err) {
    if (flags.length === 0 || !host.mounts.isBadOptionFailure(err)) throw err;
    const named = host.mounts.optionNamedIn(err);
    if (named)
      throw invalidArgument(
        `mount option "${named}" is not valid for ${fsType}; remove it from the mount options (mountOptions of the StorageClass or PV)`,
      );
    // mount's classic message also stands for a bad superblock: the flags are to blame only if the device mounts without them.
    const bare = await host.mounts.mount({ source: device, target, fsType, options: own }).catch(() => undefined);
    if (!bare) throw err;
    await host.mounts.unmountTop(target, bare);
    for (const flag of flags) {
      try {
        const trial = await host.mounts.mount({ source: device, target, fsType, options: [flag, ...own] });
        await host.mounts.unmountTop(target, trial);
      } catch (trialErr) {
        if (host.mounts.isBadOptionFailure(trialErr)) {
          throw invalidArgument(
            `mount option "${flag}" is not valid for ${fsType}; remove it from the mount options (mountOptions of the StorageClass or PV)`,
          );
        }
        throw trialErr;
      }
    }
    throw invalidArgument(`mount options ${flags.join(',')} are not valid together for ${fsType}; each is accepted alone`);
  }
}

/**
 * Formatting is recorded (design: Node staging): 'began' before mkfs, 'done' once mounted. A
 * volume left at 'began' (mkfs or the node killed in between) is formatted again over whatever
 * half-made filesystem blkid may see. Otherwise only a blank device of a volume created for
 * filesystem access that was never formatted is; raw data of a block volume looks blank to
 * blkid, so a volume created for block access never is.
 */
async function formatIfOurs(host: HostOps, vol: FoundVolume, device: string, fsType: FsType) {
  if (vol.record.formatState === 'began') {
    const inUse = await mountsOfVolume(host, await volumeLoops(host, vol));
    if (inUse.length > 0) {
      throw failedPrecondition(
        `volume ${vol.id} is mounted at ${inUse[0]!.mountPoint}; its unfinished formatting is not redone while it is in use`,
      );
    }
    faultPoint('node-stage:before-mkfs');
    await host.filesystems.make(device, fsType, {
      options: SECTOR_PROOF_MKFS[fsType],
      overwriteUnfinished: true,
      preallocated: isThick(vol),
    });
    return;
  }
  const probe = await host.filesystems.probe(device);
  if (probe.kind === 'filesystem' && probe.fsType === fsType) return;
  if (probe.kind !== 'blank') {
    throw failedPrecondition(
      `volume ${vol.id} holds ${host.filesystems.describeProbe(probe)}, not ${fsType}; Quarry never formats a device that is not blank`,
    );
  }
  if (!vol.record.accessTypes.includes('mount')) {
    throw failedPrecondition(
      `volume ${vol.id} was created for raw block access and holds no ${fsType} filesystem; ` +
        'Quarry never formats it (its data may be raw): stage it as a block volume',
    );
  }
  if (vol.record.formatState === 'done') {
    throw failedPrecondition(
      `volume ${vol.id} had a filesystem that Quarry made and mounted, and now holds none; Quarry does not format it again`,
    );
  }
  await vol.pool.updateVolume(vol.id, (v) => ({ ...v, formatState: 'began' }));
  faultPoint('node-stage:before-mkfs');
  await host.filesystems.make(device, fsType, { options: SECTOR_PROOF_MKFS[fsType], preallocated: isThick(vol) });
}

const isThick = (vol: FoundVolume) => vol.record.provisioning === 'thick';

/**
 * A restore or clone into a larger volume has a filesystem smaller than its
 * device. ext4 is grown before it is mounted: offline growth needs no
 * CAP_SYS_RESOURCE, and the check it requires also replays the journal of a
 * crash-consistent snapshot.
 */
async function growExt4BeforeMount(host: HostOps, device: string) {
  if ((await host.filesystems.ext4SizeBytes(device)) + MiB > (await host.filesystems.deviceSizeBytes(device))) return;
  await host.filesystems.checkExt4(device);
  await host.filesystems.growExt4Offline(device);
}

/**
 * 4 KiB sectors and blocks: a loop device with direct I/O takes the backing file's
 * DIO alignment as its sector size, and on XFS that becomes 4096 once the image
 * shares extents (a snapshot or clone). A filesystem made for 512-byte sectors
 * (or ext4's 1 KiB blocks on small volumes) would then no longer mount.
 */
const SECTOR_PROOF_MKFS: Record<FsType, string[]> = { ext4: ['-b', '4096'], xfs: ['-s', 'size=4096'], btrfs: [] };

/** A restored or cloned xfs or btrfs volume larger than its source grows online on first stage. */
async function growIfSmaller(host: HostOps, vol: FoundVolume, device: string, stagingPath: string, fsType: FsType) {
  const stats = await host.filesystems.stats(stagingPath);
  // Filesystems keep some space for metadata; only a clearly smaller one is grown.
  if (stats.totalBytes < vol.record.sizeBytes * 0.9) await host.filesystems.grow(fsType, device, stagingPath);
}

async function rollback(ctx: ServiceContext, vol: FoundVolume, stagingPath: string) {
  try {
    // The volume's own mount stays (a retry or unstage finishes); anything else there is not ours to touch.
    if ((await pathState(ctx.host, vol, stagingPath)).ours.length === 0) {
      await detachUnusedLoops(ctx.host, vol.pool.volumeImagePath(vol.id));
      await vol.pool.updateVolume(vol.id, (v) => withoutStaging(v, ctx.nodeId!, stagingPath));
    }
  } catch (err) {
    ctx.logger.warn({ volume_id: vol.id, err: (err as Error).message }, 'could not roll back a failed stage; a retry or unstage will');
  }
}
