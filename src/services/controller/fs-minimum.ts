import { MiB } from '../../domain/bytes.js';
import { invalidArgument } from '../../domain/errors.js';
import type { Capability, FsType } from '../../domain/volume.js';

/**
 * The smallest device each mkfs accepts, measured with the xfsprogs and btrfs-progs we ship
 * against: mkfs.xfs refuses anything under 300 MiB; mkfs.btrfs needed 109 MiB here and asks for
 * up to 114 MiB in other releases, so we take the larger. ext4 formats a 1 MiB volume.
 */
export const FS_MINIMUM_BYTES: Record<FsType, number> = {
  ext4: MiB,
  xfs: 300 * MiB,
  btrfs: 114 * MiB,
};

/**
 * A filesystem volume smaller than its mkfs minimum could be created but never staged, and
 * expansion cannot rescue it once a pod waits on it: refused up front (issue 15 item 14).
 * Block-only volumes get no filesystem, so no minimum.
 */
export function checkFilesystemMinimum(size: number, fsType: FsType, caps: Capability[]): void {
  const getsFilesystem = caps.length === 0 || caps.some((c) => c.accessType === 'mount');
  const min = FS_MINIMUM_BYTES[fsType];
  if (getsFilesystem && size < min) {
    throw invalidArgument(
      `a ${fsType} volume must be at least ${min / MiB} MiB (${min} bytes), ` +
        `the smallest device mkfs.${fsType} formats; ${size} bytes were asked for`,
    );
  }
}
