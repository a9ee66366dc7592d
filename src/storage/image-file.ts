import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Bytes } from '../domain/bytes.js';
import { Code, QuarryError, resourceExhausted } from '../domain/errors.js';
import { preallocate } from '../host/fallocate.js';
import { syncDir } from './durable-file.js';

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
  await rm(partialPath, { force: true });
  const fd = await open(partialPath, 'wx', 0o600);
  try {
    await fd.truncate(size);
    await fd.sync();
  } finally {
    await fd.close();
  }
  try {
    if (thick) await preallocate(partialPath, size);
  } catch (err) {
    await rm(partialPath, { force: true });
    throw err;
  }
  await rename(partialPath, path);
  if (opts.syncDir !== false) await syncDir(dirname(path));
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
  await rename(partialPath, path);
  if (opts.syncDir !== false) await syncDir(dirname(path));
}

/** Grows an image file; shrinking is never done. */
export async function growImage(path: string, size: Bytes, thick: boolean): Promise<void> {
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
