// Issue 15 item 7: staging and target paths lie below --kubelet-dir and are reached without symlinks.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { mountsUnder } from '../../src/host/mountinfo.js';
import { checkInKubeletDir } from '../../src/services/node/paths.js';
import { assertNoHostState, createVolume, deleteVolume, publish, stage, startCluster, unstage, volumePaths } from '../helpers/csi-flow.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { findLoopsByBackingFile, makeTempDir, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

test('stage and publish refuse symlinked components and paths outside the kubelet dir, and mount nothing', async (t) => {
  const c = await startCluster(t); // --kubelet-dir is the cluster's work dir
  const elsewhere = await makeTempDir(t, 'outside-kubelet');
  const id = await createVolume(c, 'linked', 'ext4', 64 * MiB);

  // A directory component that is a link to a directory outside the kubelet dir.
  await symlink(elsewhere, join(c.workDir, 'link'));
  await mkdir(join(elsewhere, 'staging'));
  await rejectsWithCode(stage(c, id, join(c.workDir, 'link', 'staging'), 'ext4'), grpc.status.INVALID_ARGUMENT, /symbolic link/);
  // The last component a link.
  await mkdir(join(c.workDir, 'staging'), { recursive: true });
  await symlink(join(elsewhere, 'staging'), join(c.workDir, 'staging', 'last-link'));
  await rejectsWithCode(stage(c, id, join(c.workDir, 'staging', 'last-link'), 'ext4'), grpc.status.INVALID_ARGUMENT, /symbolic link/);
  // Outside the kubelet dir altogether.
  await rejectsWithCode(stage(c, id, join(elsewhere, 'staging'), 'ext4'), grpc.status.INVALID_ARGUMENT, /outside the kubelet directory/);
  assert.deepEqual(await findLoopsByBackingFile(c.imagePath(id)), [], 'no loop device was attached');
  assert.deepEqual((await c.recordOf(id)).staging, [], 'no staging record');

  // Publish: a target below a linked pod directory.
  const { staging } = await volumePaths(c, 'v');
  await stage(c, id, staging, 'ext4');
  await symlink(elsewhere, join(c.workDir, 'pods', 'linked-pod'));
  await rejectsWithCode(
    publish(c, id, staging, join(c.workDir, 'pods', 'linked-pod', 'mount'), 'ext4'),
    grpc.status.INVALID_ARGUMENT,
    /symbolic link/,
  );
  await rejectsWithCode(
    publish(c, id, staging, join(elsewhere, 'mount'), 'ext4'),
    grpc.status.INVALID_ARGUMENT,
    /outside the kubelet directory/,
  );
  assert.deepEqual(
    (await mountsUnder(elsewhere)).map((m) => m.mountPoint),
    [],
    'nothing was mounted outside the kubelet dir',
  );
  assert.deepEqual((await readdir(elsewhere)).sort(), ['staging'], 'nothing was made outside the kubelet dir');
  assert.deepEqual((await c.recordOf(id)).publications, []);
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('checkInKubeletDir: lstat of each existing component; missing components end the walk', async (t) => {
  const root = await makeTempDir(t, 'kubelet-root');
  await mkdir(join(root, 'pods', 'a'), { recursive: true });
  await symlink(join(root, 'pods', 'a'), join(root, 'pods', 'b'));
  assert.equal(await checkInKubeletDir(root, join(root, 'pods', 'a', 'not', 'yet'), 'target_path'), join(root, 'pods', 'a', 'not', 'yet'));
  await assert.rejects(checkInKubeletDir(root, join(root, 'pods', 'b', 'mount'), 'target_path'), /symbolic link/);
  await assert.rejects(checkInKubeletDir(root, `${root}-sibling/x`, 'target_path'), /outside the kubelet directory/);
  await assert.rejects(checkInKubeletDir(root, root, 'target_path'), /outside the kubelet directory/);
});
