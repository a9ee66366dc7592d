// Copies of image files: reflinks through the kernel's FICLONE (libuv's copyfile, no child
// process), sparse-aware full copies through cp(1) from coreutils.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, QuarryError } from '../domain/errors.js';
import { run } from './exec.js';
import { checkAbsolutePath, mapToolError } from './errors.js';

/** errno codes with which FICLONE says "this filesystem (or this pair of files) cannot share extents". */
const NO_REFLINK = new Set(['EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'EXDEV', 'EINVAL', 'ENOTTY']);

/**
 * Copy-on-write copy: one FICLONE ioctl on the whole file (fs.copyFile with
 * COPYFILE_FICLONE_FORCE, run on a libuv worker), so it costs the same whatever the file's size
 * and forks nothing. Holes stay holes: the clone shares the source's extent map as it is.
 * Fails with FAILED_PRECONDITION where the filesystem cannot reflink. Overwrites `dst`
 * (truncated, then cloned into); callers copy to a temporary name and rename.
 * No timeout: the ioctl cannot be interrupted; a freeze around it has its own deadline.
 */
export async function reflinkCopy(src: string, dst: string): Promise<void> {
  checkAbsolutePath(src, 'copy source');
  checkAbsolutePath(dst, 'copy destination');
  try {
    await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (NO_REFLINK.has(code)) {
      throw new QuarryError(
        Code.FAILED_PRECONDITION,
        `cannot reflink ${src} to ${dst}: the filesystem does not support reflinks (${code})`,
        { cause: err },
      );
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new QuarryError(Code.RESOURCE_EXHAUSTED, `reflink copy of ${src} to ${dst}: no space left on the pool's filesystem (${code})`, {
        cause: err,
      });
    }
    throw mapToolError(err, `reflink copy of ${src} to ${dst}`);
  }
}

/**
 * Full copy that keeps holes as holes (`cp --reflink=never --sparse=always`; coreutils walks
 * the data with SEEK_DATA/SEEK_HOLE). Cost grows with the data, so the timeout is long.
 */
export async function sparseCopy(src: string, dst: string, timeoutMs = 3_600_000): Promise<void> {
  checkAbsolutePath(src, 'copy source');
  checkAbsolutePath(dst, 'copy destination');
  try {
    await run('cp', ['--reflink=never', '--sparse=always', '--', src, dst], { timeoutMs });
  } catch (err) {
    throw mapToolError(err, `sparse copy of ${src} to ${dst}`);
  }
}

/** Whether the filesystem holding `dir` can reflink: clones a tiny temporary file there, then removes both. */
export async function probeReflink(dir: string): Promise<boolean> {
  checkAbsolutePath(dir, 'directory');
  const tag = randomBytes(6).toString('hex');
  const a = join(dir, `.quarry-reflink-probe-${tag}`);
  const b = `${a}.clone`;
  try {
    await writeFile(a, 'quarry reflink probe\n');
    await reflinkCopy(a, b);
    return true;
  } catch (err) {
    if (err instanceof QuarryError && err.code === Code.FAILED_PRECONDITION) return false;
    throw mapToolError(err, `probing reflink support in ${dir}`);
  } finally {
    await rm(a, { force: true });
    await rm(b, { force: true });
  }
}
