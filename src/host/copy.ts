// Wraps cp(1) from coreutils: reflink (FICLONE) copies and sparse-aware copies of image files.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError, run } from './exec.js';
import { checkAbsolutePath, firstLine, mapToolError } from './errors.js';

/**
 * Copy-on-write copy (`cp --reflink=always --sparse=auto`): shares extents through FICLONE,
 * so it costs the same whatever the file's size. Fails with FAILED_PRECONDITION where the
 * filesystem cannot reflink. Overwrites `dst`; callers copy to a temporary name and rename.
 */
export async function reflinkCopy(src: string, dst: string, timeoutMs = 120_000): Promise<void> {
  checkAbsolutePath(src, 'copy source');
  checkAbsolutePath(dst, 'copy destination');
  try {
    await run('cp', ['--reflink=always', '--sparse=auto', '--', src, dst], { timeoutMs });
  } catch (err) {
    if (err instanceof HostCommandError && /not supported|invalid cross-device link|invalid argument/i.test(err.output)) {
      throw new QuarryError(
        Code.FAILED_PRECONDITION,
        `cannot reflink ${src} to ${dst}: the filesystem does not support reflinks (${firstLine(err.output)})`,
        { cause: err },
      );
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
    await run('cp', ['--reflink=always', '--', a, b], { timeoutMs: 30_000 });
    return true;
  } catch (err) {
    if (err instanceof HostCommandError) return false;
    throw mapToolError(err, `probing reflink support in ${dir}`);
  } finally {
    await rm(a, { force: true });
    await rm(b, { force: true });
  }
}
