/** Pool capacity arithmetic: what can still be promised, honouring overprovisioning. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytes, GiB, MiB } from '../../src/domain/bytes.js';
import { canPromise, computeCapacity } from '../../src/storage/capacity.js';

const base = { filesystemBytes: 10 * GiB, freeBytes: 8 * GiB, promisedBytes: 3 * GiB, overprovisioning: 1 };

test('available is the filesystem size times the ratio, minus what is promised, in whole MiB', () => {
  assert.deepEqual(computeCapacity(base), { availableBytes: 7 * GiB, maximumVolumeBytes: 10 * GiB });
  assert.deepEqual(computeCapacity({ ...base, overprovisioning: 2 }), { availableBytes: 17 * GiB, maximumVolumeBytes: 20 * GiB });
  assert.equal(computeCapacity({ ...base, filesystemBytes: 10 * GiB + MiB - 1 }).availableBytes, 7 * GiB);
  assert.equal(computeCapacity({ ...base, promisedBytes: 12 * GiB }).availableBytes, 0);
});

test('thin needs the promise; thick needs the promise and real free space', () => {
  assert.ok(canPromise(bytes(7 * GiB), false, base));
  assert.ok(!canPromise(bytes(7 * GiB + MiB), false, base));
  assert.ok(!canPromise(bytes(7 * GiB), true, { ...base, freeBytes: 6 * GiB }));
  assert.ok(canPromise(bytes(6 * GiB), true, { ...base, freeBytes: 6 * GiB }));
  assert.ok(canPromise(bytes(15 * GiB), false, { ...base, overprovisioning: 2 }));
  assert.ok(!canPromise(bytes(15 * GiB), true, { ...base, overprovisioning: 2 }));
});
