// Wraps filefrag(8) from e2fsprogs: reads a file's extent map (FIEMAP) to see which bytes it shares.
import { run } from './exec.js';
import { checkAbsolutePath, mapToolError } from './errors.js';

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
  for (const line of filefragOutput.split('\n')) {
    // "   1:  2097152.. 8388607:    2195456..   8486911: 6291456:   18907136: last,shared,eof"
    const m = /^\s*\d+:\s*\d+\.\.\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+):.*?([a-z_,]*)\s*$/.exec(line);
    if (m && m[2]!.split(',').includes('shared')) total += Number(m[1]);
  }
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
