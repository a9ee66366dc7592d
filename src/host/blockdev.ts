// Wraps blockdev(8): size queries of block devices. A loop device's size is read from /sys first.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { bytes, type Bytes } from '../domain/bytes.js';
import { run } from './exec.js';
import { checkDevicePath, mapToolError } from './errors.js';

const LOOP_NAME = /^loop\d+$/;

/**
 * A loop device's size from /sys/block/loopN/size (512-byte sectors, what BLKGETSIZE64 reports),
 * without forking blockdev: NodeGetVolumeStats of a block volume asks for it on every call
 * (design: Process footprint). Undefined when /sys does not say.
 */
async function loopSizeFromSysfs(device: string): Promise<Bytes | undefined> {
  const name = basename(device);
  if (device !== `/dev/${name}` || !LOOP_NAME.test(name)) return undefined;
  try {
    const text = (await readFile(`/sys/block/${name}/size`, 'utf8')).trim();
    const n = Number(text) * 512;
    return /^\d+$/.test(text) && Number.isSafeInteger(n) && n > 0 ? bytes(n) : undefined;
  } catch {
    return undefined;
  }
}

/** The size of a block device in bytes: /sys for a loop device, else `blockdev --getsize64`. */
export async function deviceSizeBytes(device: string): Promise<Bytes> {
  checkDevicePath(device);
  const fromSysfs = await loopSizeFromSysfs(device);
  if (fromSysfs !== undefined) return fromSysfs;
  let out: string;
  try {
    out = (await run('blockdev', ['--getsize64', device])).stdout.trim();
  } catch (err) {
    throw mapToolError(err, `reading the size of ${device}`);
  }
  const n = Number(out);
  if (!/^\d+$/.test(out) || !Number.isSafeInteger(n)) {
    throw mapToolError(new Error(`unexpected output ${JSON.stringify(out)}`), `blockdev --getsize64 ${device}`);
  }
  return bytes(n);
}

/** Same as deviceSizeBytes; the name says what callers use it for. */
export const loopSizeBytes = deviceSizeBytes;
