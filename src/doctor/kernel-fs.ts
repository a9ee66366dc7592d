// Check: the kernel knows ext4, xfs and btrfs (/proc/filesystems).
import { readKernelFilesystems, type KernelFilesystem } from '../host/procfs.js';
import { errorText, ok, warn, type CheckResult } from './result.js';

export const WANTED_FILESYSTEMS = ['ext4', 'xfs', 'btrfs'] as const;

/** One result per filesystem type. A missing one is a warning: the kernel may load its module on first mount. */
export function decideKernelFilesystems(registered: readonly KernelFilesystem[]): CheckResult[] {
  const names = new Set(registered.map((f) => f.name));
  return WANTED_FILESYSTEMS.map((fs) =>
    names.has(fs)
      ? ok(`kernel filesystem ${fs}`, 'listed in /proc/filesystems')
      : warn(
          `kernel filesystem ${fs}`,
          `not listed in /proc/filesystems (the kernel may still autoload the module on the first ${fs} mount)`,
          `modprobe ${fs} on the host, or add ${fs} to /etc/modules-load.d/ so it loads at boot`,
        ),
  );
}

export async function checkKernelFilesystems(file?: string): Promise<CheckResult[]> {
  try {
    return decideKernelFilesystems(await readKernelFilesystems(file));
  } catch (err) {
    return [warn('kernel filesystems', `cannot read /proc/filesystems: ${errorText(err)}`, 'run quarry doctor where /proc is mounted')];
  }
}
