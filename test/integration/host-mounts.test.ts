import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { bindMount, mount, unmount } from '../../src/host/mount.js';
import { isMountPoint, mountsAt, mountsOfDevice, topMountAt, topMountAtNow } from '../../src/host/mountinfo.js';
import { leakCheck, makeScratchFs, makeTempDir, onCleanup } from '../helpers/scratch.js';

test('scratch fs is mounted and found by device and by path', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 64 * 1024 * 1024 });
  assert.equal(await isMountPoint(fs.mountPath), true);
  const byDev = await mountsOfDevice(fs.device);
  assert.ok(byDev.some((m) => m.mountPoint === fs.mountPath && m.fsType === 'ext4'));
});

test('btrfs mounts are found by device even with an anonymous dev number', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'btrfs', sizeBytes: 256 * 1024 * 1024 });
  const byDev = await mountsOfDevice(fs.device);
  assert.ok(byDev.some((m) => m.mountPoint === fs.mountPath && m.fsType === 'btrfs'));
});

test('read-only bind mount is really read-only; the source stays writable', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  const src = join(fs.mountPath, 'data dir');
  await mkdir(src);
  await writeFile(join(src, 'a'), 'hello');
  const dir = await makeTempDir(t, 'bind');
  const target = join(dir, 'target with space');
  await mkdir(target);
  onCleanup(t, () => unmount(target)); // runs before the temp dir removal and scratch cleanup
  const entry = await bindMount(src, target, { readOnly: true, options: ['nosuid', 'nodev'] });
  assert.ok(entry.options.includes('ro'));
  assert.ok(entry.options.includes('nosuid'));
  assert.equal(entry.root, '/data dir');
  assert.equal(await readFile(join(target, 'a'), 'utf8'), 'hello');
  await assert.rejects(writeFile(join(target, 'b'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'EROFS');
  await writeFile(join(src, 'c'), 'still writable');
  await unmount(target);
  assert.equal(await isMountPoint(target), false);
});

test('unmount removes stacked mounts, verifies, and treats "not mounted" as success', async (t) => {
  const dir = await makeTempDir(t, 'stack');
  const src = join(dir, 'src');
  const target = join(dir, 'target');
  await mkdir(src);
  await mkdir(target);
  onCleanup(t, () => unmount(target));
  await bindMount(src, target);
  await bindMount(src, target);
  await mount({ source: 'tmpfs', target, fsType: 'tmpfs', options: ['size=1m'] });
  assert.equal((await mountsAt(target)).length, 3);
  await unmount(target);
  assert.deepEqual(await mountsAt(target), []);
  await unmount(target); // nothing mounted: success
  await unmount(join(dir, 'does-not-exist'));
});

test('topMountAtNow finds the top of stacked mounts as topMountAt does, on a path with a space and through a symlink', async (t) => {
  const dir = await makeTempDir(t, 'now');
  const src = join(dir, 'src');
  const target = join(dir, 'a target');
  const link = join(dir, 'link');
  await mkdir(src);
  await mkdir(target);
  await symlink(target, link);
  onCleanup(t, () => unmount(target));
  assert.equal(topMountAtNow(target), undefined);
  await bindMount(src, target);
  await mount({ source: 'tmpfs', target, fsType: 'tmpfs', options: ['size=1m'] });
  const top = topMountAtNow(target);
  assert.equal(top?.fsType, 'tmpfs');
  assert.equal(top?.mountPoint, target);
  assert.deepEqual(top, await topMountAt(target));
  assert.equal(topMountAtNow(link)?.mountId, top?.mountId);
  assert.equal(topMountAtNow(join(dir, 'missing')), undefined);
});

test('mount errors are clear', async (t) => {
  const dir = await makeTempDir(t, 'err');
  await assert.rejects(
    mount({ source: 'tmpfs', target: join(dir, 'missing'), fsType: 'tmpfs' }),
    (e: unknown) => e instanceof QuarryError && e.code === Code.NOT_FOUND,
  );
  await assert.rejects(
    mount({ source: 'tmpfs', target: dir, fsType: 'tmpfs', options: ['size=1m,uid=0'] }),
    (e: unknown) => e instanceof QuarryError && e.code === Code.INVALID_ARGUMENT,
  );
  await assert.rejects(unmount('relative/path'), (e: unknown) => e instanceof QuarryError && e.code === Code.INVALID_ARGUMENT);
});

test('nothing leaked', async () => {
  assert.deepEqual(await leakCheck(), { loops: [], mounts: [] });
});
