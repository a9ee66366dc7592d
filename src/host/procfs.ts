// Reads /proc/filesystems (no tool): the filesystem types the running kernel has registered.
import { readFile } from 'node:fs/promises';

export const PROC_FILESYSTEMS_PATH = '/proc/filesystems';

export interface KernelFilesystem {
  name: string;
  /** "nodev": the filesystem needs no block device (tmpfs, proc, overlay ...). */
  nodev: boolean;
}

/** Parses /proc/filesystems: one type a line, optionally preceded by "nodev", tab separated. */
export function parseProcFilesystems(text: string): KernelFilesystem[] {
  const out: KernelFilesystem[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields = line.split('\t');
    const name = (fields[fields.length - 1] ?? '').trim();
    if (!name) continue;
    out.push({ name, nodev: fields.length > 1 && fields[0]!.trim() === 'nodev' });
  }
  return out;
}

export async function readKernelFilesystems(file = PROC_FILESYSTEMS_PATH): Promise<KernelFilesystem[]> {
  return parseProcFilesystems(await readFile(file, 'utf8'));
}
