import { open, rename, rm, mkdir } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';

/** fsync a directory so that a rename or unlink inside it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

const TEMP_TAG_BYTES = 6;

/** `.<name>.<12 hex>.tmp`: the only temporary files writeFileAtomic makes, next to their target. */
export const TEMP_FILE_RE = new RegExp(`^\\.(.+)\\.[0-9a-f]{${TEMP_TAG_BYTES * 2}}\\.tmp$`);

/** The name of the file that `name` is a temporary copy of, if it is one of ours. */
export function tempFileTarget(name: string): string | undefined {
  return TEMP_FILE_RE.exec(name)?.[1];
}

export interface AtomicWriteOptions {
  /**
   * False leaves the rename to be made durable by a later fsync of the same directory, which the
   * caller must do before it reports success (design: Records, "Fewer fsyncs").
   */
  syncDir?: boolean;
}

/** Write-temp, fsync, rename, fsync-dir: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(TEMP_TAG_BYTES).toString('hex')}.tmp`);
  const fd = await open(tmp, 'wx', 0o600);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } catch (err) {
    await fd.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fd.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.syncDir !== false) await syncDir(dir);
}

/** Remove one file (never a directory) and make the removal durable. */
export async function removeFileDurable(path: string): Promise<void> {
  await rm(path, { force: true, recursive: false });
  await syncDir(dirname(path));
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}
