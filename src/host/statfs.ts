// Wraps statfs(2) through Node's fs.promises.statfs (no tool): space and inodes of a filesystem.
import { statfs } from 'node:fs/promises';
import { bytes, type Bytes } from '../domain/bytes.js';
import { Code, QuarryError } from '../domain/errors.js';

export interface FilesystemStats {
  totalBytes: Bytes;
  /** What an unprivileged writer can still use (f_bavail). */
  availableBytes: Bytes;
  usedBytes: Bytes;
  /** 0 on filesystems without a fixed inode count (btrfs). */
  totalInodes: number;
  freeInodes: number;
  usedInodes: number;
}

export async function filesystemStats(path: string): Promise<FilesystemStats> {
  let s;
  try {
    s = await statfs(path, { bigint: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code === 'ENOENT' ? Code.NOT_FOUND : Code.INTERNAL;
    throw new QuarryError(code, `statfs ${path}: ${e.message}`, { cause: err });
  }
  const bsize = s.bsize;
  const files = Number(s.files);
  const ffree = Number(s.ffree);
  return {
    totalBytes: bytes(Number(s.blocks * bsize)),
    availableBytes: bytes(Number(s.bavail * bsize)),
    usedBytes: bytes(Number((s.blocks - s.bfree) * bsize)),
    totalInodes: files,
    freeInodes: ffree,
    usedInodes: Math.max(0, files - ffree),
  };
}
