// Issue 15 items 5, 6, 11, 17: the node touches a mount only if it is the volume's own.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { listLoops } from '../../src/host/losetup.js';
import { mount, unmount, unmountTop } from '../../src/host/mount.js';
import { mountsAt, topMountAt } from '../../src/host/mountinfo.js';
import {
  assertNoHostState,
  createVolume,
  deleteVolume,
  provision,
  stage,
  startCluster,
  teardown,
  unpublish,
  unstage,
  volumePaths,
  type Cluster,
  type VolumeKind,
} from '../helpers/csi-flow.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { findLoopsByBackingFile, onCleanup, type HasAfter, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

/** A tmpfs with a marker file, unmounted after the test if Quarry left it (as it must). */
async function foreignTmpfs(t: HasAfter, path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await mount({ source: 'quarry-foreign', target: path, fsType: 'tmpfs', options: ['size=1m'] });
  onCleanup(t, () => unmount(path));
  await writeFile(join(path, 'foreign'), 'not quarry');
}

async function assertForeignIntact(path: string) {
  assert.equal((await topMountAt(path))?.source, 'quarry-foreign', `the foreign tmpfs at ${path} is still mounted`);
  assert.equal(await readFile(join(path, 'foreign'), 'utf8'), 'not quarry');
}

test('unpublish and unstage leave a foreign tmpfs and an unrelated file alone, and succeed', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'bystander', 'ext4', 64 * MiB);
  const tmpfsPath = join(c.workDir, 'pods', 'foreign', 'mount');
  await foreignTmpfs(t, tmpfsPath);
  await unpublish(c, id, tmpfsPath);
  await assertForeignIntact(tmpfsPath);
  await unstage(c, id, tmpfsPath);
  await assertForeignIntact(tmpfsPath);

  const file = join(c.workDir, 'pods', 'foreign', 'file');
  await writeFile(file, 'precious');
  await unpublish(c, id, file);
  assert.equal(await readFile(file, 'utf8'), 'precious', 'an unrelated file is not deleted');
  const dir = join(c.workDir, 'pods', 'foreign', 'empty-dir');
  await mkdir(dir);
  await unpublish(c, id, dir);
  assert.ok((await stat(dir)).isDirectory(), 'a directory Quarry did not publish into is not removed');

  await unmount(tmpfsPath);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test("unpublish and unstage of volume A at volume B's paths leave B mounted", async (t) => {
  const c = await startCluster(t);
  const a = await createVolume(c, 'vol-a', 'ext4', 64 * MiB);
  const b = await provision(c, 'vol-b', 'ext4', 64 * MiB);
  await writeFile(join(b.target, 'b-data'), 'b');
  const stagingMount = await topMountAt(b.staging);
  const targetMount = await topMountAt(b.target);
  await unpublish(c, a, b.target);
  await unstage(c, a, b.staging);
  assert.equal((await topMountAt(b.target))?.mountId, targetMount?.mountId, "B's publication is untouched");
  assert.equal((await topMountAt(b.staging))?.mountId, stagingMount?.mountId, "B's staging is untouched");
  assert.equal(await readFile(join(b.target, 'b-data'), 'utf8'), 'b');
  await teardown(c, b);
  await deleteVolume(c, a);
  await assertNoHostState(c);
});

test('unstage refuses a foreign mount stacked over the volume, and touches neither', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'covered', 'ext4', 64 * MiB);
  const { staging } = await volumePaths(c, 'v');
  await stage(c, id, staging, 'ext4');
  await foreignTmpfs(t, staging);
  const e = await rejectsWithCode(unstage(c, id, staging), grpc.status.FAILED_PRECONDITION, /quarry-foreign/);
  assert.match(e.details, /not touching/);
  await assertForeignIntact(staging);
  assert.equal((await mountsAt(staging)).length, 2, "the volume's mount below is still there");
  await unmountTop(staging, (await topMountAt(staging))!); // the test takes its tmpfs off again
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

for (const kind of ['ext4', 'block'] as VolumeKind[]) {
  test(`${kind}: NodeStage(B) where A is staged is refused before B gets a record or a loop; A stays mounted`, async (t) => {
    const c = await startCluster(t);
    const a = await createVolume(c, 'first', 'ext4', 64 * MiB);
    const b = await createVolume(c, 'second', kind, 64 * MiB);
    const { staging } = await volumePaths(c, 'shared-path');
    await stage(c, a, staging, 'ext4');
    const before = await topMountAt(staging);
    await rejectsWithCode(stage(c, b, staging, kind), grpc.status.ALREADY_EXISTS, /not volume/);
    assert.deepEqual(await findLoopsByBackingFile(c.imagePath(b)), [], "B's loop device was never attached");
    assert.deepEqual((await c.recordOf(b)).staging, [], 'B has no staging record');
    assert.equal((await topMountAt(staging))?.mountId, before?.mountId, 'A is still mounted');
    await deleteVolume(c, b); // B can be deleted: nothing of it is left
    await unstage(c, a, staging);
    await deleteVolume(c, a);
    await assertNoHostState(c);
  });

  test(`${kind}: unstage before unpublish, then unpublish and delete, leaves no loop device behind`, async (t) => {
    const c = await startCluster(t);
    const v = await provision(c, `order-${kind}`, kind, 64 * MiB);
    const image = c.imagePath(v.volumeId);
    await unstage(c, v.volumeId, v.staging);
    assert.equal((await findLoopsByBackingFile(image)).length, 1, 'the publication keeps its loop device');
    await unpublish(c, v.volumeId, v.target);
    assert.deepEqual(await findLoopsByBackingFile(image), [], 'unpublish of an unstaged volume detaches its loop');
    await deleteVolume(c, v.volumeId);
    const onDeleted = (await listLoops()).filter((l) => l.backingFileDeleted && l.backingFile.endsWith(`${v.volumeId}.img`));
    assert.deepEqual(
      onDeleted.map((l) => l.device),
      [],
      'no loop over the deleted image',
    );
    await assertNoHostState(c);
  });
}

function expand(c: Cluster, volumeId: string, volumePath: string, requiredBytes: number) {
  return call(c.nodeClients.node, 'NodeExpandVolume', {
    volume_id: volumeId,
    volume_path: volumePath,
    capacity_range: { required_bytes: requiredBytes },
    volume_capability: { mount: { fs_type: 'xfs' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
  } as never);
}

test("NodeExpandVolume(A) pointed at B's mount or a foreign mount is refused before anything grows", async (t) => {
  const c = await startCluster(t);
  const a = await provision(c, 'grow-a', 'xfs', 320 * MiB);
  const b = await provision(c, 'grow-b', 'xfs', 320 * MiB);
  const foreign = join(c.workDir, 'pods', 'foreign', 'mount');
  await foreignTmpfs(t, foreign);
  await rejectsWithCode(expand(c, a.volumeId, b.target, 400 * MiB), grpc.status.FAILED_PRECONDITION, /not volume/);
  await rejectsWithCode(expand(c, a.volumeId, foreign, 400 * MiB), grpc.status.FAILED_PRECONDITION, /quarry-foreign/);
  assert.equal((await stat(c.imagePath(a.volumeId))).size, 320 * MiB, "A's image did not grow");
  assert.equal((await c.recordOf(a.volumeId)).sizeBytes, 320 * MiB);
  await assertForeignIntact(foreign);
  await unmount(foreign);
  await teardown(c, a);
  await teardown(c, b);
  await assertNoHostState(c);
});
