/**
 * Pure range logic of changed-block metadata (design: Changed-block metadata): which bytes of a
 * snapshot image hold data, and which differ between two snapshots of one volume, from their
 * extent maps alone. No data is read.
 */
import type { ByteRange, FileExtent } from '../host/filefrag.js';

export type { ByteRange };

/** A stretch of an image that holds data (not a hole, not an unwritten extent). */
interface DataSegment {
  start: number;
  end: number;
  /** Device address of `start`; undefined when the filesystem gives no stable one (delalloc). */
  physical: number | undefined;
  /** For an encoded (compressed) extent, the whole extent: only an identical one is the same data. */
  encodedKey: string | undefined;
}

/**
 * The data segments of an image of `size` bytes. Unwritten extents read as zeros, like holes,
 * so they hold no data; extents past `size` (preallocation beyond EOF) are cut off.
 */
export function dataSegments(extents: readonly FileExtent[], size: number): DataSegment[] {
  const out: DataSegment[] = [];
  for (const e of extents) {
    if (e.unwritten || e.length <= 0) continue;
    const start = Math.max(0, e.logical);
    const end = Math.min(size, e.logical + e.length);
    if (end <= start) continue;
    out.push({
      start,
      end,
      physical: e.unknownLocation ? undefined : e.physical + (start - e.logical),
      encodedKey: e.encoded ? `${e.logical}:${e.physical}:${e.length}` : undefined,
    });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Sorted ranges with touching or overlapping ones joined. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else {
      out.push({ offset: r.offset, length: r.length });
    }
  }
  return out;
}

/** The bytes of an image that hold data: its written extents, joined where they touch. */
export function allocatedRanges(extents: readonly FileExtent[], size: number): ByteRange[] {
  return mergeRanges(dataSegments(extents, size).map((s) => ({ offset: s.start, length: s.end - s.start })));
}

/** Whether two segments covering the same byte `pos` are provably the same data. */
function sameData(a: DataSegment, b: DataSegment, pos: number): boolean {
  if (a.encodedKey !== undefined || b.encodedKey !== undefined) return a.encodedKey === b.encodedKey;
  if (a.physical === undefined || b.physical === undefined) return false;
  // Same device address at the same file offset: the very same block, shared by a reflink.
  return a.physical + (pos - a.start) === b.physical + (pos - b.start);
}

/**
 * The bytes of `target` that may differ from `base` (both images of one volume, `size` being the
 * target's): data in one and not the other, or data in both at different device addresses.
 * Blocks both images share (same address at the same offset) are unchanged; zeros in both
 * (holes or unwritten extents) are unchanged. Never misses a changed byte; may report bytes
 * that were rewritten with the same content, at extent granularity.
 */
export function changedRanges(base: readonly FileExtent[], target: readonly FileExtent[], size: number): ByteRange[] {
  const a = dataSegments(base, size);
  const b = dataSegments(target, size);
  const out: ByteRange[] = [];
  let i = 0;
  let j = 0;
  let pos = 0;
  while (pos < size) {
    while (i < a.length && a[i]!.end <= pos) i++;
    while (j < b.length && b[j]!.end <= pos) j++;
    if (i >= a.length && j >= b.length) break;
    const segA = i < a.length && a[i]!.start <= pos ? a[i] : undefined;
    const segB = j < b.length && b[j]!.start <= pos ? b[j] : undefined;
    const nextA = segA ? segA.end : i < a.length ? a[i]!.start : size;
    const nextB = segB ? segB.end : j < b.length ? b[j]!.start : size;
    const next = Math.min(nextA, nextB, size);
    const changed = segA && segB ? !sameData(segA, segB, pos) : segA !== segB;
    if (changed) out.push({ offset: pos, length: next - pos });
    pos = next;
  }
  return mergeRanges(out);
}

/**
 * The part of `ranges` at or after `startingOffset`: a range that holds the offset is cut to
 * begin there, so a client resuming from the end of what it got sees no byte twice.
 */
export function rangesFrom(ranges: readonly ByteRange[], startingOffset: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const end = r.offset + r.length;
    if (end <= startingOffset) continue;
    const offset = Math.max(r.offset, startingOffset);
    out.push({ offset, length: end - offset });
  }
  return out;
}

/** Splits ranges into pages of at most `maxPerPage` (at least one page, possibly empty). */
export function pageRanges(ranges: readonly ByteRange[], maxPerPage: number): ByteRange[][] {
  const n = Math.max(1, Math.floor(maxPerPage));
  const pages: ByteRange[][] = [];
  for (let k = 0; k < ranges.length; k += n) pages.push(ranges.slice(k, k + n));
  return pages.length > 0 ? pages : [[]];
}

/** Total bytes of a range list. */
export function rangeBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((sum, r) => sum + r.length, 0);
}
