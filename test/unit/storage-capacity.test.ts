/** Pool capacity arithmetic: what can still be promised, honouring overprovisioning (design: Capacity). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytes, GiB, MiB } from '../../src/domain/bytes.js';
import { parseSharedBytes } from '../../src/host/filefrag.js';
import { canPromise, capacityMargin, computeCapacity, validSize } from '../../src/storage/capacity.js';

// 3 GiB promised, of which 1 GiB is already written (owned); 8 GiB free, 1 GiB margin.
const base = {
  filesystemBytes: 10 * GiB,
  freeBytes: 8 * GiB,
  ownedBytes: 1 * GiB,
  promisedBytes: 3 * GiB,
  marginBytes: 1 * GiB,
  overprovisioning: 1,
};

test('available is what the filesystem can really give (free − margin + owned) times the ratio, minus what is promised, in whole MiB', () => {
  // usable = 8 − 1 + 1 = 8 GiB; owed = 3 − 1 = 2 GiB.
  assert.deepEqual(computeCapacity(base), {
    availableBytes: 5 * GiB,
    maximumVolumeBytes: 10 * GiB,
    owedBytes: 2 * GiB,
    usableBytes: 8 * GiB,
    shortfallBytes: 0,
  });
  assert.equal(computeCapacity({ ...base, overprovisioning: 2 }).availableBytes, 13 * GiB);
  assert.equal(computeCapacity({ ...base, overprovisioning: 2 }).maximumVolumeBytes, 20 * GiB);
  assert.equal(computeCapacity({ ...base, freeBytes: 8 * GiB + MiB - 1 }).availableBytes, 5 * GiB);
  assert.equal(computeCapacity({ ...base, promisedBytes: 12 * GiB }).availableBytes, 0);
});

test('at 1.0, available never exceeds free space minus the margin minus every byte still owed', () => {
  // The pool: 960 MiB filesystem, 921 MiB free. The old rule promised 960 MiB.
  const pool = {
    filesystemBytes: 960 * MiB,
    freeBytes: 921 * MiB,
    ownedBytes: 0,
    promisedBytes: 0,
    marginBytes: capacityMargin(960 * MiB),
    overprovisioning: 1,
  };
  assert.ok(computeCapacity(pool).availableBytes <= 921 * MiB - 32 * MiB);
  for (const owned of [0, 100 * MiB, 300 * MiB]) {
    const c = { ...pool, promisedBytes: 500 * MiB, ownedBytes: owned, freeBytes: 921 * MiB - owned };
    const cap = computeCapacity(c);
    assert.equal(cap.availableBytes + cap.owedBytes, c.freeBytes - c.marginBytes, `owned ${owned}`);
  }
});

test('foreign files eating free space show as a shortfall, and nothing more can be promised', () => {
  const cap = computeCapacity({ ...base, freeBytes: 2 * GiB });
  assert.equal(cap.availableBytes, 0);
  assert.equal(cap.shortfallBytes, 1 * GiB);
});

test('thin needs the promise; thick needs the promise and real free space above the margin', () => {
  assert.ok(canPromise(bytes(5 * GiB), false, base));
  assert.ok(!canPromise(bytes(5 * GiB + MiB), false, base));
  const written = { ...base, freeBytes: 5 * GiB, ownedBytes: 4 * GiB };
  assert.ok(canPromise(bytes(5 * GiB), false, written));
  assert.ok(!canPromise(bytes(5 * GiB), true, written));
  assert.ok(canPromise(bytes(4 * GiB), true, written));
  assert.ok(canPromise(bytes(13 * GiB), false, { ...base, overprovisioning: 2 }));
  assert.ok(!canPromise(bytes(13 * GiB), true, { ...base, overprovisioning: 2 }));
});

test('a record size that is not a whole non-negative number is not a size', () => {
  for (const bad of [NaN, -1, 1.5, '100', null, undefined, Infinity, 2 ** 60]) assert.equal(validSize(bad), undefined, String(bad));
  assert.equal(validSize(0), 0);
  assert.equal(validSize(64 * MiB), 64 * MiB);
});

test('the margin is 2 % (10 % on btrfs), at least 32 MiB', () => {
  assert.equal(capacityMargin(GiB), 32 * MiB);
  assert.equal(capacityMargin(100 * GiB), 2 * GiB);
  assert.equal(capacityMargin(100 * GiB, true), 10 * GiB);
});

test('filefrag: only extents flagged shared count', () => {
  const out = [
    'Filesystem type is: 58465342',
    'File size of /p/a is 8388608 (8388608 blocks of 1 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:        0.. 2097151:   16809984..  18907135: 2097152:            ',
    '   1:  2097152.. 8388607:    2195456..   8486911: 6291456:   18907136: last,shared,eof',
    '   2:  8388608.. 8392703:    9000000..   9004095:    4096:             unwritten',
    '/p/a: 3 extents found',
  ].join('\n');
  assert.equal(parseSharedBytes(out), 6291456);
  assert.equal(parseSharedBytes(''), 0);
});
