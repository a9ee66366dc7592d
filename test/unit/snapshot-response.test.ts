import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytes } from '../../src/domain/bytes.js';
import { snapshotMessage } from '../../src/services/controller/snapshot-response.js';
import type { SnapshotRecord } from '../../src/storage/records.js';

const record = (over: Partial<SnapshotRecord> = {}): SnapshotRecord => ({
  format: 1,
  kind: 'snapshot',
  id: 'snap-aaaaaaaaaaaaaaaaaaaa',
  name: 'n',
  pool: 'default',
  state: 'ready',
  sourceVolumeId: 'vol-bbbbbbbbbbbbbbbbbbbb',
  sizeBytes: bytes(1 << 30),
  fsType: 'xfs',
  createdAt: '2026-11-25T22:33:46.789Z',
  parameters: {},
  ...over,
});

test('creation_time is the record time as a protobuf Timestamp', () => {
  const m = snapshotMessage(record());
  assert.deepEqual(m.creation_time, { seconds: Date.UTC(2026, 10, 25, 22, 33, 46) / 1000, nanos: 789_000_000 });
});

test('the message carries the source, the source size and readiness', () => {
  const m = snapshotMessage(record());
  assert.equal(m.snapshot_id, 'snap-aaaaaaaaaaaaaaaaaaaa');
  assert.equal(m.source_volume_id, 'vol-bbbbbbbbbbbbbbbbbbbb');
  assert.equal(m.size_bytes, 1 << 30);
  assert.equal(m.ready_to_use, true);
  assert.equal(snapshotMessage(record({ state: 'creating' })).ready_to_use, false);
});
