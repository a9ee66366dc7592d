// NodePublishVolume / NodeUnpublishVolume (and unstage ordering) through real quarry processes.
import { call } from '../helpers/grpc-client.js';
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { access, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { findLoopsByBackingFile } from '../../src/host/losetup.js';
import { mount, unmount } from '../../src/host/mount.js';
import { mountsAt, topMountAt } from '../../src/host/mountinfo.js';
import {
  assertNoHostState,
  createVolume,
  deleteVolume,
  publish,
  stage,
  startCluster,
  unpublish,
  unstage,
  volumePaths,
  type VolumeKind,
} from '../helpers/csi-flow.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { onCleanup, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

async function expectErrno(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (e: NodeJS.ErrnoException) => e.code === code);
}

for (const kind of ['ext4', 'xfs', 'btrfs'] as VolumeKind[]) {
  test(`${kind}: publish binds staging to target (rw and a real ro), idempotent, capability clash is ALREADY_EXISTS`, async (t) => {
    const c = await startCluster(t);
    const id = await createVolume(c, `pub-${kind}`, kind);
    const { staging } = await volumePaths(c, 'v');
    const target = join(c.workDir, 'pods', 'p1', 'volumes', 'v', 'mount'); // parents do not exist yet
    const roTarget = join(c.workDir, 'pods', 'p2', 'mount');
    await stage(c, id, staging, kind);
    await publish(c, id, staging, target, kind, { mountFlags: ['noatime'] });
    await publish(c, id, staging, target, kind, { mountFlags: ['noatime'] }); // idempotent
    const staged = (await topMountAt(staging))!;
    const bound = (await topMountAt(target))!;
    assert.equal((await mountsAt(target)).length, 1, 'published once');
    assert.equal(`${bound.major}:${bound.minor}`, `${staged.major}:${staged.minor}`, 'the target shows the staged filesystem');
    assert.ok(bound.options.includes('rw') && bound.options.includes('noatime'), `target options ${bound.options.join(',')}`);
    await writeFile(join(target, 'through-target'), 'hello');
    assert.equal(await readFile(join(staging, 'through-target'), 'utf8'), 'hello');

    await rejectsWithCode(publish(c, id, staging, target, kind, { readonly: true }), grpc.status.ALREADY_EXISTS);

    await publish(c, id, staging, roTarget, kind, { readonly: true });
    await publish(c, id, staging, roTarget, kind, { readonly: true });
    assert.ok((await topMountAt(roTarget))!.options.includes('ro'));
    assert.equal(await readFile(join(roTarget, 'through-target'), 'utf8'), 'hello');
    await expectErrno(writeFile(join(roTarget, 'nope'), 'x'), 'EROFS');
    await rejectsWithCode(publish(c, id, staging, roTarget, kind), grpc.status.ALREADY_EXISTS);
    assert.equal((await c.recordOf(id)).publications.length, 2);

    for (const p of [target, roTarget]) {
      await unpublish(c, id, p);
      await unpublish(c, id, p); // idempotent
      await expectErrno(access(p), 'ENOENT');
    }
    assert.deepEqual((await c.recordOf(id)).publications, []);
    assert.equal(await readFile(join(staging, 'through-target'), 'utf8'), 'hello', 'the volume keeps its data');
    await unstage(c, id, staging);
    await deleteVolume(c, id);
    await assertNoHostState(c);
  });
}

test('block: publish binds the loop device onto a target file; data goes through it', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'pub-block', 'block', 64 * MiB);
  const { staging } = await volumePaths(c, 'v');
  const target = join(c.workDir, 'pods', 'p1', 'volumeDevices', 'dev');
  await stage(c, id, staging, 'block');
  await publish(c, id, staging, target, 'block');
  await publish(c, id, staging, target, 'block'); // idempotent
  assert.equal((await mountsAt(target)).length, 1);
  const device = (await findLoopsByBackingFile(c.imagePath(id)))[0]!.device;
  const st = await stat(target);
  assert.ok(st.isBlockDevice(), 'the target shows the block device');
  assert.equal(st.rdev, (await stat(device)).rdev);

  const pattern = Buffer.alloc(4096, 0x5a);
  const fd = await open(target, 'r+');
  await fd.write(pattern, 0, pattern.length, 1 * MiB);
  await fd.sync();
  await fd.close();
  const back = Buffer.alloc(4096);
  const dev = await open(device, 'r');
  await dev.read(back, 0, back.length, 1 * MiB);
  await dev.close();
  assert.deepEqual(back, pattern, 'what was written through the target is on the volume');

  await rejectsWithCode(publish(c, id, staging, target, 'block', { readonly: true }), grpc.status.ALREADY_EXISTS);
  await unpublish(c, id, target);
  await unpublish(c, id, target);
  await expectErrno(access(target), 'ENOENT');
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('SINGLE_NODE_SINGLE_WRITER: a second target is FAILED_PRECONDITION; publish before stage is FAILED_PRECONDITION', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'single-writer', 'ext4', 64 * MiB);
  const { staging, target } = await volumePaths(c, 'v');
  const mode = 'SINGLE_NODE_SINGLE_WRITER';
  await rejectsWithCode(publish(c, id, staging, target, 'ext4', { mode }), grpc.status.FAILED_PRECONDITION, /stage/i);
  await stage(c, id, staging, 'ext4', { mode });
  await publish(c, id, staging, target, 'ext4', { mode });
  await publish(c, id, staging, target, 'ext4', { mode });
  await rejectsWithCode(
    publish(c, id, staging, join(c.workDir, 'pods', 'other', 'mount'), 'ext4', { mode }),
    grpc.status.FAILED_PRECONDITION,
  );
  await expectErrno(access(join(c.workDir, 'pods', 'other', 'mount')), 'ENOENT');
  await unpublish(c, id, target);
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('unpublish with a tmpfs stacked on the target unmounts both and never deletes through a mount', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'stacked', 'ext4', 64 * MiB);
  const { staging, target } = await volumePaths(c, 'v');
  await stage(c, id, staging, 'ext4');
  await publish(c, id, staging, target, 'ext4');
  await writeFile(join(target, 'volume-data'), 'precious');
  await mount({ source: 'tmpfs', target, fsType: 'tmpfs', options: ['size=1m'] });
  await writeFile(join(target, 'tmpfs-data'), 'x');
  await unpublish(c, id, target);
  assert.equal((await mountsAt(target)).length, 0, 'both mounts are gone');
  await expectErrno(access(target), 'ENOENT');
  assert.equal(await readFile(join(staging, 'volume-data'), 'utf8'), 'precious', 'the volume data under the bind is intact');
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('unpublish refuses while something is mounted below the target, and deletes nothing', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'nested', 'ext4', 64 * MiB);
  const { staging, target } = await volumePaths(c, 'v');
  await stage(c, id, staging, 'ext4');
  await publish(c, id, staging, target, 'ext4');
  await writeFile(join(target, 'volume-data'), 'precious');
  const sub = join(target, 'sub');
  await mkdir(sub);
  await mount({ source: 'tmpfs', target: sub, fsType: 'tmpfs', options: ['size=1m'] });
  onCleanup(t, () => unmount(sub));
  await writeFile(join(sub, 'tmpfs-data'), 'x');
  const e = await rejectsWithCode(unpublish(c, id, target), grpc.status.UNAVAILABLE);
  assert.match(e.details, /busy/);
  assert.equal(await readFile(join(sub, 'tmpfs-data'), 'utf8'), 'x');
  assert.equal(await readFile(join(target, 'volume-data'), 'utf8'), 'precious');
  await unmount(sub);
  await unpublish(c, id, target);
  await expectErrno(access(target), 'ENOENT');
  assert.equal(await readFile(join(staging, 'volume-data'), 'utf8'), 'precious');
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

for (const kind of ['ext4', 'block'] as VolumeKind[]) {
  test(`${kind}: unstage while still published keeps the loop device; the last user detaches it`, async (t) => {
    const c = await startCluster(t);
    const id = await createVolume(c, `busy-${kind}`, kind, 64 * MiB);
    const { staging, target } = await volumePaths(c, 'v');
    await stage(c, id, staging, kind);
    await publish(c, id, staging, target, kind);
    const device = (await findLoopsByBackingFile(c.imagePath(id)))[0]!.device;
    await unstage(c, id, staging);
    assert.deepEqual(
      (await findLoopsByBackingFile(c.imagePath(id))).map((l) => l.device),
      [device],
      'the published volume keeps its loop device',
    );
    assert.equal((await mountsAt(target)).length, 1);
    await unpublish(c, id, target);
    await unstage(c, id, staging);
    assert.deepEqual(await findLoopsByBackingFile(c.imagePath(id)), []);
    await deleteVolume(c, id);
    await assertNoHostState(c);
  });
}

test('unpublish and unstage succeed when target and staging never existed', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'gone', 'ext4', 64 * MiB);
  await unpublish(c, id, join(c.workDir, 'no', 'such', 'target'));
  await unstage(c, id, join(c.workDir, 'no', 'such', 'staging'));
  await rejectsWithCode(unpublish(c, 'vol-aaaaaaaaaaaaaaaaaaaa', join(c.workDir, 'x')), grpc.status.NOT_FOUND);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

// A read-only bind of a device node alone does not stop writes to the device (the kernel checks
// MNT_READONLY for files on the mount, not for I/O to the device behind a node), so a read-only
// block publication binds a read-only loop device over the same image.
test('block: a readonly publication refuses writes', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'ro-block', 'block', 64 * MiB);
  const { staging, target } = await volumePaths(c, 'v');
  await stage(c, id, staging, 'block');
  await publish(c, id, staging, target, 'block', { readonly: true });
  try {
    assert.ok((await topMountAt(target))!.options.includes('ro'));
    await assert.rejects(async () => {
      const fd = await open(target, 'r+');
      try {
        await fd.write(Buffer.alloc(512, 1), 0, 512, 0);
        await fd.sync();
      } finally {
        await fd.close();
      }
    }, 'a write through a readonly block target must fail');
    // The target shows the read-only loop device, which is still this volume's.
    const stats = await call(c.nodeClients.node, 'NodeGetVolumeStats', { volume_id: id, volume_path: target });
    assert.equal(Number(stats.usage[0]!.total), 64 * MiB);
    assert.equal(stats.volume_condition?.abnormal, false);
  } finally {
    await unpublish(c, id, target);
    await unstage(c, id, staging);
    await deleteVolume(c, id);
  }
  await assertNoHostState(c);
});
