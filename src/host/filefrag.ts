// Wraps filefrag(8) from e2fsprogs: reads a file's extent map (FIEMAP), for shared bytes and changed-block metadata.
import { run } from './exec.js';
import { checkAbsolutePath, mapToolError } from './errors.js';

/**
 * One extent of a file as FIEMAP reports it, in bytes (`filefrag -v -b1`). Adjacent extents are
 * not merged: each line is one kernel extent.
 */
export interface FileExtent {
  /** Byte offset in the file. */
  logical: number;
  /** Byte address on the filesystem's device; meaningful only when `unknownLocation` is false. */
  physical: number;
  length: number;
  /** FIEMAP_EXTENT_SHARED: another file (a reflink) holds the same blocks. */
  shared: boolean;
  /** FIEMAP_EXTENT_UNWRITTEN: allocated but reads as zeros (fallocate, or a zeroed range). */
  unwritten: boolean;
  /** No stable address yet (delalloc, unknown_loc) or data not at a plain address (inline, not_aligned). */
  unknownLocation: boolean;
  /** FIEMAP_EXTENT_ENCODED (compressed btrfs extents): the address names the whole encoded extent, not this byte. */
  encoded: boolean;
}

const UNKNOWN_FLAGS = ['unknown_loc', 'delalloc', 'inline', 'not_aligned', 'data_inline', 'data_tail'];

/** The extent map of `path`, sorted by offset. Holes are the gaps between extents. */
export async function extentMap(path: string, timeoutMs = 120_000): Promise<FileExtent[]> {
  checkAbsolutePath(path, 'image path');
  try {
    const { stdout } = await run('filefrag', ['-v', '-b1', '--', path], { timeoutMs });
    return parseExtentMap(stdout);
  } catch (err) {
    throw mapToolError(err, `reading the extent map of ${path}`);
  }
}

/**
 * Parses `filefrag -v -b1` output. The "expected" column is present only on some lines, so a
 * line has five or six colon-separated fields; the last one is the flags when it holds letters.
 * Exported for unit tests.
 */
export function parseExtentMap(filefragOutput: string): FileExtent[] {
  const out: FileExtent[] = [];
  for (const line of filefragOutput.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 5 || !/^\s*\d+\s*$/.test(fields[0]!)) continue;
    const logical = /^\s*(\d+)\.\.\s*(\d+)\s*$/.exec(fields[1]!);
    const physical = /^\s*(\d+)\.\.\s*(\d+)\s*$/.exec(fields[2]!);
    const length = /^\s*(\d+)\s*$/.exec(fields[3]!);
    if (!logical || !physical || !length) continue;
    const last = fields[fields.length - 1]!.trim();
    const flags = fields.length >= 6 || /[a-z]/.test(last) ? last.split(',').filter(Boolean) : [];
    out.push({
      logical: Number(logical[1]),
      physical: Number(physical[1]),
      length: Number(length[1]),
      shared: flags.includes('shared'),
      unwritten: flags.includes('unwritten'),
      unknownLocation: flags.some((f) => UNKNOWN_FLAGS.includes(f)),
      encoded: flags.includes('encoded'),
    });
  }
  return out.sort((a, b) => a.logical - b.logical);
}

/**
 * Bytes of `path` whose extents are shared with another file (FIEMAP_EXTENT_SHARED), as
 * `filefrag -v -b1` reports them: a write there needs new space on a reflink filesystem.
 */
export async function sharedBytes(path: string, timeoutMs = 60_000): Promise<number> {
  checkAbsolutePath(path, 'image path');
  try {
    const { stdout } = await run('filefrag', ['-v', '-b1', '--', path], { timeoutMs });
    return parseSharedBytes(stdout);
  } catch (err) {
    throw mapToolError(err, `reading the extent map of ${path}`);
  }
}

/** Sums the length column of the extent lines flagged `shared`. Exported for unit tests. */
export function parseSharedBytes(filefragOutput: string): number {
  let total = 0;
  for (const e of parseExtentMap(filefragOutput)) if (e.shared) total += e.length;
  return total;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Byte ranges of `path` held by unwritten (preallocated, never written) extents. They read as
 * zeroes, but `fallocate --dig-holes` skips them on XFS (SEEK_DATA counts them as holes), so they
 * must be punched by range to give their space back.
 */
export async function unwrittenRanges(path: string, timeoutMs = 60_000): Promise<ByteRange[]> {
  checkAbsolutePath(path, 'image path');
  try {
    const { stdout } = await run('filefrag', ['-v', '-b1', '--', path], { timeoutMs });
    return parseUnwrittenRanges(stdout);
  } catch (err) {
    throw mapToolError(err, `reading the extent map of ${path}`);
  }
}

/** The extent lines flagged `unwritten`, as byte ranges. Exported for unit tests. */
export function parseUnwrittenRanges(filefragOutput: string): ByteRange[] {
  const out: ByteRange[] = [];
  for (const line of filefragOutput.split('\n')) {
    // "   2:     8192.. 8388607:     106496..   8486911: 8380416:             last,unwritten,eof"
    const m = /^\s*\d+:\s*(\d+)\.\.\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+):.*?([a-z_,]*)\s*$/.exec(line);
    if (m && m[3]!.split(',').includes('unwritten')) out.push({ offset: Number(m[1]), length: Number(m[2]) });
  }
  return out;
}
