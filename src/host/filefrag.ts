// Wraps filefrag(8) from e2fsprogs: reads a file's extent map (FIEMAP) once; shared bytes, unwritten
// ranges and changed-block metadata are all derived from that one parsed map (design: Changed-block metadata).
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

/** A half-open byte range [offset, offset + length) of a file. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** Bytes held by extents another file shares (FIEMAP_EXTENT_SHARED): a write there needs new space on a reflink filesystem. */
export function sharedBytesOf(extents: readonly FileExtent[]): number {
  let total = 0;
  for (const e of extents) if (e.shared) total += e.length;
  return total;
}

/** The unwritten (preallocated, never written) extents as byte ranges, in file order. */
export function unwrittenRangesOf(extents: readonly FileExtent[]): ByteRange[] {
  return extents.filter((e) => e.unwritten).map((e) => ({ offset: e.logical, length: e.length }));
}

/** Shared bytes of `path`, from one read of its extent map. */
export async function sharedBytes(path: string, timeoutMs = 60_000): Promise<number> {
  return sharedBytesOf(await extentMap(path, timeoutMs));
}

/**
 * Byte ranges of `path` held by unwritten extents. They read as zeroes, but `fallocate --dig-holes`
 * skips them on XFS (SEEK_DATA counts them as holes), so they must be punched by range to give
 * their space back.
 */
export async function unwrittenRanges(path: string, timeoutMs = 60_000): Promise<ByteRange[]> {
  return unwrittenRangesOf(await extentMap(path, timeoutMs));
}

/** `sharedBytesOf` over raw `filefrag -v -b1` output. Exported for unit tests. */
export const parseSharedBytes = (filefragOutput: string): number => sharedBytesOf(parseExtentMap(filefragOutput));

/** `unwrittenRangesOf` over raw `filefrag -v -b1` output. Exported for unit tests. */
export const parseUnwrittenRanges = (filefragOutput: string): ByteRange[] => unwrittenRangesOf(parseExtentMap(filefragOutput));
