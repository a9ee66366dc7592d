import { isAbsolute, normalize } from 'node:path';
import { invalidArgument, notFound } from '../../domain/errors.js';

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
