// Pure range logic of changed-block metadata: the filefrag parser, allocated and changed ranges, paging.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExtentMap, type FileExtent } from '../../src/host/filefrag.js';
import { allocatedRanges, changedRanges, mergeRanges, pageRanges, rangesFrom } from '../../src/storage/extent-ranges.js';
import { paging } from '../../src/services/snapshot-metadata/metadata-pages.js';
import { Code, type QuarryError } from '../../src/domain/errors.js';
import { seededRng } from '../chaos/lib/rng.js';

const K = 4096;

/** A plain data extent of `blocks` blocks at block `at`, on device block `phys`. */
const ext = (at: number, blocks: number, phys: number, more: Partial<FileExtent> = {}): FileExtent => ({
  logical: at * K,
  physical: phys * K,
  length: blocks * K,
  shared: false,
  unwritten: false,
  unknownLocation: false,
  encoded: false,
  ...more,
});
const r = (at: number, blocks: number) => ({ offset: at * K, length: blocks * K });

test('filefrag: lines with and without the expected column, flags, holes between', () => {
  // Real `filefrag -v -b1` output of a reflinked image on XFS after a 4 KiB overwrite and a fallocate.
  const out = [
    'Filesystem type is: 58465342',
    'File size of b is 67108864 (67108864 blocks of 1 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:    20480..   28671:      98304..    106495:   8192:      20480: shared',
    '   1:    28672..   32767:     180224..    184319:   4096:     106496:',
    '   2:    32768..   61439:     110592..    139263:  28672:     184320: shared',
    '   3:  4096000.. 4108287:     139264..    151551:  12288:             shared',
    '   4:  8388608.. 9437183:    4431872..   5480447: 1048576:             last,unwritten',
    '   5:  9437184.. 9441279:          0..         0:   4096:             last,unknown_loc,delalloc,eof',
    '   6:    28672..   32767:     106496..    110591:   4096:            ',
    'b: 3 extents found',
  ].join('\n');
  const e = parseExtentMap(out);
  assert.equal(e.length, 7);
  assert.deepEqual(
    e.map((x) => [x.logical, x.physical, x.length, x.shared, x.unwritten, x.unknownLocation]),
    [
      [20480, 98304, 8192, true, false, false],
      [28672, 180224, 4096, false, false, false],
      [28672, 106496, 4096, false, false, false],
      [32768, 110592, 28672, true, false, false],
      [4096000, 139264, 12288, true, false, false],
      [8388608, 4431872, 1048576, false, true, false],
      [9437184, 0, 4096, false, false, true],
    ],
  );
  assert.deepEqual(parseExtentMap(''), []);
});

test('allocated: data extents joined where they touch; unwritten extents and bytes past the size left out', () => {
  const extents = [ext(0, 2, 100), ext(2, 3, 500), ext(10, 1, 7, { unwritten: true }), ext(20, 4, 9)];
  assert.deepEqual(allocatedRanges(extents, 22 * K), [r(0, 5), r(20, 2)]);
  assert.deepEqual(allocatedRanges([], 22 * K), []);
});

test('delta: shared blocks unchanged, moved blocks changed, data against zeros changed both ways', () => {
  const base = [ext(0, 8, 100), ext(16, 4, 200), ext(30, 2, 300, { unwritten: true })];
  const target = [
    ext(0, 2, 100), // shared head
    ext(2, 1, 900), // overwritten block (CoW moved it)
    ext(3, 5, 103), // shared tail of the same base extent, split differently
    // 16..19 punched: a hole where base had data
    ext(24, 2, 950), // new data where base had a hole
    // 30..31: base unwritten, target hole: both read zeros
  ];
  assert.deepEqual(changedRanges(base, target, 64 * K), [r(2, 1), r(16, 4), r(24, 2)]);
  // Same images: nothing changed. Swapped: the same bytes differ.
  assert.deepEqual(changedRanges(base, base, 64 * K), []);
  assert.deepEqual(changedRanges(target, base, 64 * K), [r(2, 1), r(16, 4), r(24, 2)]);
});

test('delta: the same address at another offset, unknown addresses and encoded extents are changed', () => {
  // Block 5 of target holds device block 100, which is base's block 0: not the same place in the volume.
  assert.deepEqual(changedRanges([ext(0, 1, 100), ext(5, 1, 105)], [ext(0, 1, 100), ext(5, 1, 100)], 8 * K), [r(5, 1)]);
  // Delalloc data has no address to compare: changed, even at an equal (zero) address.
  const delalloc = { unknownLocation: true };
  assert.deepEqual(changedRanges([ext(0, 1, 0, delalloc)], [ext(0, 1, 0, delalloc)], 8 * K), [r(0, 1)]);
  // Compressed (encoded) extents are the same only when the whole extent is.
  const enc = { encoded: true };
  assert.deepEqual(changedRanges([ext(0, 4, 50, enc)], [ext(0, 4, 50, enc)], 8 * K), []);
  assert.deepEqual(changedRanges([ext(0, 4, 50, enc)], [ext(0, 2, 50, enc), ext(2, 2, 52)], 8 * K), [r(0, 4)]);
});

test('delta: clipped to the target size; a grown target compares its new bytes against zeros', () => {
  assert.deepEqual(changedRanges([ext(0, 2, 10)], [ext(0, 2, 10), ext(6, 4, 60)], 8 * K), [r(6, 2)]);
  assert.deepEqual(changedRanges([], [ext(0, 2, 10)], 16 * K), [r(0, 2)]);
});

/** The chaos suite's seeded generator (mulberry32): the same cases every run. */
const rng = (seed: number): (() => number) => seededRng(seed).next;

/** Extents of a block map (undefined = hole, 'z' = unwritten, n = device block), split at random places. */
function extentsOf(blocks: (number | 'z' | undefined)[], rand: () => number): FileExtent[] {
  const out: FileExtent[] = [];
  let k = 0;
  while (k < blocks.length) {
    const b = blocks[k];
    if (b === undefined) {
      k++;
      continue;
    }
    let n = 1;
    while (k + n < blocks.length && rand() < 0.8) {
      const next = blocks[k + n];
      if (b === 'z' ? next !== 'z' : next !== (b as number) + n) break;
      n++;
    }
    out.push(b === 'z' ? ext(k, n, 5000 + k, { unwritten: true }) : ext(k, n, b));
    k += n;
  }
  return out;
}

test('delta equals a block-by-block comparison of random block maps (500 cases)', () => {
  const rand = rng(11);
  for (let c = 0; c < 500; c++) {
    const n = 1 + Math.floor(rand() * 60);
    let fresh = 10_000;
    const base = Array.from({ length: n }, (_, k) => (rand() < 0.3 ? undefined : rand() < 0.1 ? ('z' as const) : 100 + k));
    // Target: the base, then some blocks rewritten (new address), punched, or unwritten.
    const target = base.map((b) => {
      const x = rand();
      if (x < 0.15) return fresh++;
      if (x < 0.25) return undefined;
      if (x < 0.3) return 'z' as const;
      return b;
    });
    const zero = (b: number | 'z' | undefined) => b === undefined || b === 'z';
    const expected: { offset: number; length: number }[] = [];
    for (let k = 0; k < n; k++) {
      const same = zero(base[k]) ? zero(target[k]) : base[k] === target[k];
      if (!same) expected.push(r(k, 1));
    }
    assert.deepEqual(changedRanges(extentsOf(base, rand), extentsOf(target, rand), n * K), mergeRanges(expected), `case ${c}`);
  }
});

test('paging: ranges from an offset are cut there; pages hold at most max_results; always one message', () => {
  const ranges = [r(0, 4), r(8, 4), r(20, 1)];
  assert.deepEqual(rangesFrom(ranges, 2 * K), [r(2, 2), r(8, 4), r(20, 1)]);
  assert.deepEqual(rangesFrom(ranges, 12 * K), [r(20, 1)]);
  assert.deepEqual(rangesFrom(ranges, 21 * K), []);
  assert.deepEqual(pageRanges(ranges, 2), [[r(0, 4), r(8, 4)], [r(20, 1)]]);
  assert.deepEqual(pageRanges([], 2), [[]]);
  assert.deepEqual(mergeRanges([r(4, 2), r(0, 4), r(5, 3), r(10, 0)]), [r(0, 8)]);
});

test('paging: the CSI codes for bad offsets and counts', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return (err as QuarryError).code;
    }
    return undefined;
  };
  assert.equal(
    code(() => paging(-1, 0, 100)),
    Code.INVALID_ARGUMENT,
  );
  assert.equal(
    code(() => paging(0, -5, 100)),
    Code.INVALID_ARGUMENT,
  );
  assert.equal(
    code(() => paging(100, 0, 100)),
    Code.OUT_OF_RANGE,
  );
  assert.deepEqual(paging(99, 0, 100), { startingOffset: 99, perMessage: 1024 });
  assert.deepEqual(paging(0, 3, 100), { startingOffset: 0, perMessage: 3 });
  assert.deepEqual(paging(0, 1_000_000, 100).perMessage, 16_384);
});
