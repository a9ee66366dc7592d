// Wraps dumpe2fs, e2fsck and resize2fs for an ext4 filesystem that is NOT mounted.
import { bytes, type Bytes } from '../domain/bytes.js';
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError, run } from './exec.js';
import { checkDevicePath, mapToolError } from './errors.js';

/** The filesystem's own size, from its superblock (`dumpe2fs -h`). */
export async function ext4SizeBytes(device: string): Promise<Bytes> {
  checkDevicePath(device);
  let out: string;
  try {
    out = (await run('dumpe2fs', ['-h', device])).stdout;
  } catch (err) {
    throw mapToolError(err, `reading the ext4 superblock of ${device}`);
  }
  return parseExt4Size(out);
}

export function parseExt4Size(dumpe2fsHeader: string): Bytes {
  const count = /^Block count:\s+(\d+)$/m.exec(dumpe2fsHeader);
  const size = /^Block size:\s+(\d+)$/m.exec(dumpe2fsHeader);
  if (!count || !size) throw new QuarryError(Code.INTERNAL, 'dumpe2fs printed no block count or block size');
  return bytes(Number(count[1]) * Number(size[1]));
}

/**
 * `e2fsck -p -f`: replays the journal and fixes what is safe to fix without
 * asking. Exit 1 and 2 mean "errors corrected"; 4 and above mean errors left,
 * which need an admin.
 */
export async function checkExt4(device: string, timeoutMs = 600_000): Promise<void> {
  checkDevicePath(device);
  try {
    await run('e2fsck', ['-p', '-f', device], { timeoutMs, okExitCodes: [1, 2] });
  } catch (err) {
    if (err instanceof HostCommandError && err.exitCode >= 4) {
      throw new QuarryError(
        Code.FAILED_PRECONDITION,
        `the ext4 filesystem on ${device} has errors e2fsck -p cannot fix safely; ` +
          `run e2fsck on it by hand: ${err.output.trim().slice(0, 300)}`,
        { cause: err },
      );
    }
    throw mapToolError(err, `checking ext4 on ${device}`);
  }
}

/** Offline growth needs no CAP_SYS_RESOURCE, unlike the kernel's online resize. Run checkExt4 first. */
export async function growExt4Offline(device: string, timeoutMs = 600_000): Promise<void> {
  checkDevicePath(device);
  try {
    await run('resize2fs', [device], { timeoutMs });
  } catch (err) {
    throw mapToolError(err, `growing the unmounted ext4 on ${device}`);
  }
}
