/**
 * RecordStore on a real filesystem: listings stay sorted and see every change made through the
 * store, by another process's store, or by hand, even though unchanged records are not re-read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytes, MiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { RecordStore } from '../../src/storage/record-store.js';
import type { VolumeRecord } from '../../src/storage/records.js';
import { makeScratchFs } from '../helpers/scratch.js';

function volume(name: string, size = MiB): VolumeRecord {
  return {
    format: 1,
    kind: 'volume',
    id: volumeIdForName(name),
    name,
    pool: 'default',
    state: 'ready',
    sizeBytes: bytes(size),
    fsType: 'ext4',
    provisioning: 'thin',
    accessTypes: ['mount'],
    requestKey: '{}',
    parameters: {},
    createdAt: new Date(0).toISOString(),
    staging: [],
    publications: [],
    attachments: [],
  };
}

for (const fsType of ['xfs', 'ext4'] as const) {
  test(`listings follow every change on ${fsType}`, async (t) => {
    const fs = await makeScratchFs(t, { fsType });
    const dir = join(fs.mountPath, 'volumes');
    await mkdir(dir);
    const mine = new RecordStore<VolumeRecord>(dir, 'volume');
    const other = new RecordStore<VolumeRecord>(dir, 'volume'); // another process sharing the pool
    const names = ['c', 'a', 'b', 'd'];
    for (const n of names) await mine.write(volume(n));
    const ids = (await mine.all()).map((r) => r.id);
    assert.deepEqual(ids, [...ids].sort());
    assert.equal((await other.all()).length, 4);

    await other.write({ ...volume('a'), sizeBytes: bytes(5 * MiB) });
    assert.equal((await mine.all()).find((r) => r.name === 'a')!.sizeBytes, 5 * MiB);

    await other.remove(volumeIdForName('b'));
    assert.deepEqual((await mine.all()).map((r) => r.name).sort(), ['a', 'c', 'd']);

    // A hand edit in place (same inode) is still seen.
    const path = mine.pathOf(volumeIdForName('c'));
    const edited = `${JSON.stringify({ ...volume('c'), state: 'deleting' }, null, 2)}\n`;
    await writeFile(path, edited);
    assert.equal((await mine.all()).find((r) => r.name === 'c')!.state, 'deleting');

    // Corrupted by hand: reported and skipped, the others still listed.
    await writeFile(path, 'garbage');
    const corrupt: string[] = [];
    assert.deepEqual((await mine.all((id) => corrupt.push(id))).map((r) => r.name).sort(), ['a', 'd']);
    assert.deepEqual(corrupt, [volumeIdForName('c')]);
    await assert.rejects(mine.all(), /corrupt/);

    // Recreated under the same id by rename, as writeFileAtomic does.
    await writeFile(join(dir, '.tmp'), JSON.stringify(volume('c', 9 * MiB)));
    await rename(join(dir, '.tmp'), path);
    assert.equal((await mine.all()).find((r) => r.name === 'c')!.sizeBytes, 9 * MiB);
  });
}

test('single reads always read the file, follow every change, and hand out records that cannot be changed', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  const dir = join(fs.mountPath, 'volumes');
  await mkdir(dir);
  const mine = new RecordStore<VolumeRecord>(dir, 'volume');
  const other = new RecordStore<VolumeRecord>(dir, 'volume');
  const id = volumeIdForName('a');
  const fresh = () => new RecordStore<VolumeRecord>(dir, 'volume').read(id); // a process with nothing kept

  // What this store wrote reads back as a fresh read of the file does; each read is the file's, not a kept object.
  await mine.write(volume('a'));
  const first = await mine.read(id);
  assert.deepEqual(first, await fresh());
  assert.notEqual(await mine.read(id), first);
  assert.deepEqual(
    (await mine.all()).find((r) => r.id === id),
    first,
    'the listing serves what this store wrote',
  );
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first!.staging));
  assert.throws(() => {
    (first as { state: string }).state = 'deleting';
  }, TypeError);

  // Changed by another process's store, by a commit of this one, by hand in place: each is seen.
  await other.write({ ...volume('a'), sizeBytes: bytes(5 * MiB) });
  assert.equal((await mine.read(id))!.sizeBytes, 5 * MiB);
  const prepared = await mine.prepare({ ...volume('a'), sizeBytes: bytes(7 * MiB) });
  await mine.commit(prepared);
  assert.equal((await mine.read(id))!.sizeBytes, 7 * MiB);
  assert.equal((await other.read(id))!.sizeBytes, 7 * MiB);
  await writeFile(mine.pathOf(id), `${JSON.stringify({ ...volume('a'), state: 'deleting' }, null, 2)}\n`);
  assert.equal((await mine.read(id))!.state, 'deleting');
  await writeFile(mine.pathOf(id), 'garbage');
  await assert.rejects(mine.read(id), /corrupt/);
  await other.remove(id);
  assert.equal(await mine.read(id), undefined);
});
