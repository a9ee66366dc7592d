// Wraps resize2fs, xfs_growfs and `btrfs filesystem resize`: online growth of a mounted filesystem.
import type { FsType } from '../domain/volume.js';
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError, run } from './exec.js';
import { checkAbsolutePath, checkDevicePath, mapToolError } from './errors.js';

/**
 * Grows the filesystem to fill its device. ext4 takes the device (resize2fs), xfs and btrfs take
 * the mount path. The device must already show its new size (see refreshLoopCapacity).
 */
export async function growFilesystem(fsType: FsType, device: string, mountPath: string, timeoutMs = 300_000): Promise<void> {
  checkDevicePath(device);
  checkAbsolutePath(mountPath, 'mount path');
  const [tool, args]: [string, string[]] =
    fsType === 'ext4'
      ? ['resize2fs', [device]]
      : fsType === 'xfs'
        ? ['xfs_growfs', ['-d', mountPath]]
        : fsType === 'btrfs'
          ? ['btrfs', ['filesystem', 'resize', 'max', mountPath]]
          : ['', []];
  if (!tool) throw new QuarryError(Code.INVALID_ARGUMENT, `cannot grow unknown filesystem type ${JSON.stringify(fsType)}`);
  try {
    await run(tool, args, { timeoutMs });
  } catch (err) {
    if (fsType === 'ext4' && err instanceof HostCommandError && /permission denied to resize/i.test(err.output)) {
      throw new QuarryError(
        Code.FAILED_PRECONDITION,
        `cannot grow ext4 on ${device} online: the kernel requires CAP_SYS_RESOURCE for it; ` +
          `run the node plugin privileged (or with that capability)`,
        { cause: err },
      );
    }
    throw mapToolError(err, `growing ${fsType} on ${device} (mounted at ${mountPath})`);
  }
}
