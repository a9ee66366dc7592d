// Wraps fallocate(1): thick provisioning of image files, and reads how much of a file is allocated.
import { stat } from 'node:fs/promises';
import { bytes, type Bytes } from '../domain/bytes.js';
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError, run } from './exec.js';
import { checkAbsolutePath, firstLine, mapToolError } from './errors.js';

/**
 * Allocates `size` bytes of `path` on disk (`fallocate -l SIZE FILE`), creating it if needed.
 * Disk full is RESOURCE_EXHAUSTED; a filesystem without fallocate is FAILED_PRECONDITION.
 */
export async function preallocate(path: string, size: Bytes, timeoutMs = 300_000): Promise<void> {
  checkAbsolutePath(path, 'image path');
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new QuarryError(Code.INVALID_ARGUMENT, `preallocate size must be a positive number of bytes, got ${size}`);
  }
  try {
    await run('fallocate', ['-l', String(size), '--', path], { timeoutMs });
  } catch (err) {
    if (err instanceof HostCommandError && /operation not supported/i.test(err.output)) {
      throw new QuarryError(
        Code.FAILED_PRECONDITION,
        `cannot preallocate ${path}: the pool's filesystem does not support fallocate; use thin provisioning (${firstLine(err.output)})`,
        { cause: err },
      );
    }
    throw mapToolError(err, `preallocating ${size} bytes for ${path}`);
  }
}

/** Bytes really allocated on disk for `path` (st_blocks × 512). */
export async function allocatedBytes(path: string): Promise<Bytes> {
  try {
    const st = await stat(path, { bigint: true });
    return bytes(Number(st.blocks * 512n));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new QuarryError(e.code === 'ENOENT' ? Code.NOT_FOUND : Code.INTERNAL, `stat ${path}: ${e.message}`, { cause: err });
  }
}

/**
 * Punches holes where `path` holds only zeroes (`fallocate --dig-holes FILE`), giving the space
 * back to the filesystem. It reads then punches, so nothing may write the file meanwhile: call it
 * only on an image no device or mount uses.
 */
export async function digHoles(path: string, timeoutMs = 600_000): Promise<void> {
  checkAbsolutePath(path, 'image path');
  try {
    await run('fallocate', ['--dig-holes', '--', path], { timeoutMs });
  } catch (err) {
    throw mapToolError(err, `punching the zeroed blocks of ${path}`);
  }
}

/** Deallocates `length` bytes at `offset` of `path` (`fallocate --punch-hole`); the file keeps its size. */
export async function punchHole(path: string, offset: number, length: number, timeoutMs = 60_000): Promise<void> {
  checkAbsolutePath(path, 'image path');
  try {
    await run('fallocate', ['--punch-hole', '--offset', String(offset), '--length', String(length), '--', path], { timeoutMs });
  } catch (err) {
    throw mapToolError(err, `punching ${length} bytes at ${offset} of ${path}`);
  }
}
