// Wraps blockdev(8): size queries of block devices.
import { bytes, type Bytes } from '../domain/bytes.js';
import { run } from './exec.js';
import { checkDevicePath, mapToolError } from './errors.js';

/** The size of a block device in bytes (`blockdev --getsize64`). */
export async function deviceSizeBytes(device: string): Promise<Bytes> {
  checkDevicePath(device);
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
