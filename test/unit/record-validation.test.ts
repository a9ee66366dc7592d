/**
 * Records are checked on read (design: Records): a record that is valid JSON but has the wrong
 * shape is FAILED_PRECONDITION naming the file and the field, and a listing skips it (and only
 * it). Runs on a plain temp directory: no root needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { volumeIdForName, snapshotIdForName } from '../../src/domain/ids.js';
import { RecordStore } from '../../src/storage/record-store.js';
import type { SnapshotRecord, VolumeRecord } from '../../src/storage/records.js';
import { makeTempDir } from '../helpers/scratch.js';

function volume(name: string): VolumeRecord {
  return {
    format: 1,
    kind: 'volume',
    id: volumeIdForName(name),
    name,
    pool: 'default',
    state: 'ready',
    sizeBytes: (64 * 1024 * 1024) as VolumeRecord['sizeBytes'],
    fsType: 'ext4',
    provisioning: 'thin',
    accessTypes: ['mount'],
    requestKey: '{}',
    parameters: {},
    createdAt: new Date().toISOString(),
    staging: [{ nodeId: 'n1', stagingPath: '/var/lib/kubelet/x/globalmount', accessType: 'mount' }],
    publications: [],
    attachments: [],
  };
}

/** Each damaged record, and the field its error must name. */
const DAMAGE: Array<[string, (r: Record<string, any>) => unknown, RegExp]> = [
  ['no lists', (r) => ({ ...r, staging: undefined, publications: undefined, attachments: undefined }), /field "staging"/],
  ['size as text', (r) => ({ ...r, sizeBytes: 'lots' }), /field "sizeBytes"/],
  ['negative size', (r) => ({ ...r, sizeBytes: -1073741824 }), /field "sizeBytes" must not be negative/],
  ['fractional size', (r) => ({ ...r, sizeBytes: 1.5 }), /field "sizeBytes" must be a whole number/],
  [
    'bad nested entry',
    (r) => ({ ...r, staging: [{ nodeId: 'n1', stagingPath: '/x', accessType: 'floppy' }] }),
    /field "staging\.0\.accessType"/,
  ],
  ['unknown state', (r) => ({ ...r, state: 'gone' }), /field "state"/],
  ['bad timestamp', (r) => ({ ...r, createdAt: 'yesterday' }), /field "createdAt" must be an ISO 8601 timestamp/],
  ['unknown format state', (r) => ({ ...r, formatState: 'half' }), /field "formatState"/],
  [
    'freeze without a deadline',
    (r) => ({ ...r, freeze: { nodeId: 'n1', mountPath: '/m', holder: 'node', since: new Date().toISOString() } }),
    /field "freeze\.until"/,
  ],
  ['an array', () => [], /not a JSON object/],
];

test('a record of the wrong shape is FAILED_PRECONDITION naming the file and the field', async (t) => {
  const dir = await makeTempDir(t, 'records');
  const store = new RecordStore<VolumeRecord>(dir, 'volume');
  for (const [what, damage, field] of DAMAGE) {
    const r = volume(`bad-${what}`);
    await writeFile(store.pathOf(r.id), JSON.stringify(damage(r)));
    await assert.rejects(store.read(r.id), (e: Error & { code: number }) => {
      assert.equal(e.code, status.FAILED_PRECONDITION, `${what}: ${e.message}`);
      assert.ok(e.message.includes(store.pathOf(r.id)), `${what}: the file is not named: ${e.message}`);
      assert.match(e.message, field, what);
      return true;
    });
  }
});

test('torn, empty and newer-format records say so', async (t) => {
  const dir = await makeTempDir(t, 'records-torn');
  const store = new RecordStore<VolumeRecord>(dir, 'volume');
  const torn = volume('torn');
  await writeFile(store.pathOf(torn.id), JSON.stringify(torn).slice(0, 50));
  await assert.rejects(store.read(torn.id), /corrupt \(it is not valid JSON: torn or hand-edited\)/);
  const empty = volume('empty');
  await writeFile(store.pathOf(empty.id), '');
  await assert.rejects(store.read(empty.id), /corrupt \(it is empty\)/);
  const newer = volume('newer');
  await writeFile(store.pathOf(newer.id), JSON.stringify({ ...newer, format: 2 }));
  await assert.rejects(store.read(newer.id), /has format 2, written by a newer Quarry; this one reads formats up to 1: upgrade quarry/);
  const noFormat = volume('no-format');
  await writeFile(store.pathOf(noFormat.id), JSON.stringify({ ...noFormat, format: 'one' }));
  await assert.rejects(store.read(noFormat.id), /field "format" must be a record format number/);
});

test('a listing skips each bad record, reports it, and returns every good one', async (t) => {
  const dir = await makeTempDir(t, 'records-list');
  const store = new RecordStore<VolumeRecord>(dir, 'volume');
  const good = [volume('good-1'), volume('good-2')];
  for (const r of good) await store.write(r);
  const bad: string[] = [];
  for (const [what, damage] of DAMAGE) {
    const r = volume(`list-bad-${what}`);
    await writeFile(store.pathOf(r.id), JSON.stringify(damage(r)));
    bad.push(r.id);
  }
  const reported: string[] = [];
  const listed = await store.all((id) => reported.push(id));
  assert.deepEqual(listed.map((r) => r.id).sort(), good.map((r) => r.id).sort());
  assert.deepEqual(reported.sort(), bad.sort());
  // Every good record is usable as its type says: the lists are there.
  for (const r of listed) assert.ok(Array.isArray(r.staging) && Array.isArray(r.publications) && Array.isArray(r.attachments));
});

test('fields this version does not know are kept, so a rewrite by an older Quarry loses nothing', async (t) => {
  const dir = await makeTempDir(t, 'records-loose');
  const store = new RecordStore<VolumeRecord>(dir, 'volume');
  const r = volume('future');
  await writeFile(store.pathOf(r.id), JSON.stringify({ ...r, futureField: { a: 1 }, staging: [{ ...r.staging[0], formatting: 'done' }] }));
  const read = (await store.read(r.id)) as VolumeRecord & { futureField?: unknown };
  assert.deepEqual(read.futureField, { a: 1 });
  assert.equal((read.staging[0] as unknown as Record<string, unknown>).formatting, 'done');
});

test('snapshot records are checked too', async (t) => {
  const dir = await makeTempDir(t, 'records-snap');
  const store = new RecordStore<SnapshotRecord>(dir, 'snapshot');
  const id = snapshotIdForName('s1');
  const snap = {
    format: 1,
    kind: 'snapshot',
    id,
    name: 's1',
    pool: 'p',
    state: 'ready',
    sourceVolumeId: volumeIdForName('v'),
    sizeBytes: 1024,
    fsType: 'xfs',
    createdAt: new Date().toISOString(),
    parameters: {},
  };
  await writeFile(store.pathOf(id), JSON.stringify(snap));
  assert.equal((await store.read(id))?.id, id);
  await writeFile(store.pathOf(id), JSON.stringify({ ...snap, allocatedBytes: -5 }));
  await assert.rejects(store.read(id), /field "allocatedBytes" must not be negative/);
  await writeFile(store.pathOf(id), JSON.stringify({ ...snap, kind: 'volume' }));
  await assert.rejects(store.read(id), /field "kind"/);
});
