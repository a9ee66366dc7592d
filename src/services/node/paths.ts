import { lstat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { invalidArgument, notFound, QuarryError } from '../../domain/errors.js';

/**
 * A staging or target path from the CO: absolute, already normal (no `..`
 * or `//` tricks), no control characters. Quarry touches no other paths
 * outside its pools (design: IDs and paths).
 */
export function checkRequestPath(raw: string | undefined, field: string): string {
  if (!raw) throw invalidArgument(`${field} is required`);
  if (!isAbsolute(raw) || /[\0\n\r]/.test(raw) || raw.split('/').includes('..')) {
    throw invalidArgument(`${field} must be an absolute path without ".." or control characters`);
  }
  const clean = normalize(raw);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/** For RPCs that look a volume up by path: a path that cannot be ours holds no volume. */
export function volumePathOrNotFound(raw: string | undefined, field: string): string {
  if (!raw) throw invalidArgument(`${field} is required`);
  try {
    return checkRequestPath(raw, field);
  } catch {
    throw notFound(`${raw} holds no Quarry volume`);
  }
}

/**
 * A checked path must also lie below the kubelet directory (--kubelet-dir) and be reached
 * without symbolic links below it: a link would put the mount on its destination, outside what
 * kubelet cleans up (design: Node staging). Each existing component is lstat'ed, not compared
 * as text; components that do not exist yet are created by Quarry itself, without links.
 */
export async function checkInKubeletDir(kubeletDir: string, path: string, field: string): Promise<string> {
  const root = kubeletDir.length > 1 && kubeletDir.endsWith('/') ? kubeletDir.slice(0, -1) : kubeletDir;
  if (root !== '/' && !path.startsWith(`${root}/`)) {
    throw invalidArgument(`${field} ${path} is outside the kubelet directory ${root}; pass the kubelet root with --kubelet-dir`);
  }
  let current = root;
  for (const part of path.slice(root.length).split('/').filter(Boolean)) {
    current = join(current, part);
    let info;
    try {
      info = await lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break; // the rest does not exist yet
      throw err;
    }
    if (info.isSymbolicLink()) {
      throw invalidArgument(`${field} ${path}: ${current} is a symbolic link; Quarry follows no links in staging or target paths`);
    }
  }
  return path;
}

/** checkRequestPath, then checkInKubeletDir. */
export async function nodeRequestPath(kubeletDir: string, raw: string | undefined, field: string): Promise<string> {
  return checkInKubeletDir(kubeletDir, checkRequestPath(raw, field), field);
}

/** volumePathOrNotFound, then checkInKubeletDir: a path outside it or through a link holds no volume of ours. */
export async function nodeVolumePath(kubeletDir: string, raw: string | undefined, field: string): Promise<string> {
  const path = volumePathOrNotFound(raw, field);
  try {
    return await checkInKubeletDir(kubeletDir, path, field);
  } catch (err) {
    if (err instanceof QuarryError) throw notFound(`${path} holds no Quarry volume: ${err.message}`);
    throw err;
  }
}
