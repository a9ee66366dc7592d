import fs, { closeSync, ftruncateSync, openSync, renameSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import type { Bytes } from '../domain/bytes.js';
import { Code, QuarryError, resourceExhausted } from '../domain/errors.js';
import { preallocate } from '../host/fallocate.js';
import { removeFile, syncDir } from './durable-file.js';

// Plain descriptors, not FileHandle objects, as in durable-file.ts: one of these per create (design: Performance targets).
const fsyncFd = promisify(fs.fsync);

/**
 * Creates a sparse image of exactly `size` bytes at `path`, going through
 * `partialPath` so a crash never leaves a half-made image under the final name.
 */
export async function createImage(
  path: string,
  partialPath: string,
  size: Bytes,
  thick: boolean,
  opts: { syncDir?: boolean } = {},
): Promise<void> {
  // In place but for the fsync, as a record's temporary file (durable-file.ts writeTemp): a new sparse
  // file's creation and size are metadata changes of microseconds, a worker trip each costs more.
  const fd = await openNewFile(partialPath);
  try {
    ftruncateSync(fd, size);
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (thick) await preallocate(partialPath, size);
  } catch (err) {
    await removeFile(partialPath);
    throw err;
  }
  renameSync(partialPath, path);
  if (opts.syncDir !== false) await syncDir(dirname(path));
}

/**
 * A new, empty file (O_EXCL): a partial image left by a crash is removed first, then made anew,
 * never reused through a name that might be a link. The usual case is one open.
 */
async function openNewFile(path: string): Promise<number> {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await removeFile(path); // through a worker: a partial thick image can take long to free
    return openSync(path, 'wx', 0o600);
  }
}

/** Gives a filled partial image its final size and name (clones and restores). */
export async function publishImage(
  partialPath: string,
  path: string,
  size: Bytes,
  thick: boolean,
  opts: { syncDir?: boolean } = {},
): Promise<void> {
  await growImage(partialPath, size, thick);
  renameSync(partialPath, path); // as a record's commit (durable-file.ts): no worker trip for one rename
  if (opts.syncDir !== false) await syncDir(dirname(path));
}

/** Grows an image file; shrinking is never done. */
export async function growImage(path: string, size: Bytes, thick: boolean): Promise<void> {
  // A copy is mostly as large as asked already: one stat answers, with no worker trip.
  if (statSync(path).size >= size) return;
  const fd = await open(path, 'r+');
  try {
    const { size: current } = await fd.stat();
    if (current >= size) return;
    await fd.truncate(size);
    await fd.sync();
  } finally {
    await fd.close();
  }
  if (thick) await preallocate(path, size);
}

export function noSpace(what: string) {
  return resourceExhausted(`the pool has no space left for ${what}; free space in the pool or use another pool`);
}

export function isNoSpace(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOSPC' || (err instanceof QuarryError && err.code === Code.RESOURCE_EXHAUSTED);
}
