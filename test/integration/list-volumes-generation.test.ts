/**
 * ListVolumes serves records from its last listing while the pool generation is unchanged
 * (design: Records). Its invariant: a record changed by another process is seen by the very next
 * ListVolumes, and an image changed by hand is reported by the first listing after any change made
 * through Quarry (the image sizes a listing measured are kept by the same rule as its records),
 * and otherwise within LISTING_TTL_MS (listed-image-sizes.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { truncate } from 'node:fs/promises';
import { bytes, MiB } from '../../src/domain/bytes.js';
import { volumeIdForName, type VolumeId } from '../../src/domain/ids.js';
import { ImagePool } from '../../src/storage/image-pool.js';
import { PoolLock } from '../../src/storage/pool-lock.js';
import { poolSubdirs } from '../../src/storage/pool-dir.js';
import { createVolume, publicationOnNodeA, startControllerPool } from '../helpers/controller-pool.js';
import { call } from '../helpers/grpc-client.js';
import { onCleanup } from '../helpers/scratch.js';
import { scratchPoolDir } from '../helpers/quarry-process.js';

test('ListVolumes sees at once what another process changed, and an image cut by hand once anything changed', async (t) => {
  const { pool: root, q } = await startControllerPool(t, 'xfs');
  const ctl = q.clients.controller;
  const create = async (name: string) => (await createVolume(ctl, name, 8 * MiB)).volume_id as VolumeId;
  const list = async () => (await call(ctl, 'ListVolumes', {} as any)).entries!;
  const a = await create('gen-a');
  const b = await create('gen-b');
  // Twice with nothing changed: the second is served from the first.
  assert.equal((await list()).length, 2);
  assert.equal((await list()).length, 2);

  const other = await ImagePool.open('default', root, { overprovisioning: 1 }); // another process's view of the pool
  onCleanup(t, () => other.close());
  await other.updateVolume(a, (v) => ({ ...v, publications: [publicationOnNodeA()] }));
  await other.deleteVolume(b);
  const after = await list();
  assert.deepEqual(
    after.map((e) => e.volume!.volume_id),
    [a],
    'a volume deleted by another process is gone from the next listing',
  );
  assert.deepEqual(after[0]!.status!.published_node_ids, ['node-a'], 'a publication recorded by another process is listed');
  assert.equal(after[0]!.status!.volume_condition!.abnormal, false);

  // The image cut by hand, then any record changed through Quarry: the next listing measures it again.
  await truncate(other.volumeImagePath(a), 4 * MiB);
  await other.updateVolume(a, (v) => ({ ...v, publications: [] }));
  const cut = (await list())[0]!.status!.volume_condition!;
  assert.equal(cut.abnormal, true);
  assert.match(cut.message, /truncated/);
  await truncate(other.volumeImagePath(a), 8 * MiB);
  await call(ctl, 'DeleteVolume', { volume_id: a } as any);
  assert.deepEqual(await list(), []);
});

test('the pool generation is read only between changes, and moves with every change', async (t) => {
  const { path: root } = await scratchPoolDir(t, { fsType: 'ext4' });
  const pool = await ImagePool.open('default', root, { overprovisioning: 1 });
  onCleanup(t, () => pool.close());
  const peeker = new PoolLock(poolSubdirs(root).lockFile); // its own lock description, as another process has
  onCleanup(t, () => peeker.close());
  const before = await peeker.peekGeneration();
  assert.notEqual(before, undefined);
  await pool.withLock(async () => {
    assert.equal(await peeker.peekGeneration(), undefined, 'a change may be half made while the pool lock is held');
  });
  assert.equal(await peeker.peekGeneration(), before, 'a hold that changed nothing leaves the generation');
  await pool.createVolume({
    id: volumeIdForName('gen'),
    name: 'gen',
    sizeBytes: bytes(MiB),
    fsType: 'ext4',
    provisioning: 'thin',
    accessTypes: ['mount'],
    requestKey: '{}',
    parameters: {},
  });
  const next = await peeker.peekGeneration();
  assert.ok(next !== undefined && next > before!, `the generation moved (${before} to ${next})`);
});
