// A loop device that another process holds open is not detached by `losetup -d`: the kernel only
// marks it autoclear and clears it when the last opener closes. A block volume staged again in that
// window must not be handed the dying device: a bind of a device node does not hold it open, so the
// pod would read nothing once the other opener closes. And while that other process holds it, the
// volume can still be written through it: unstage fails until the device is gone, as a busy umount does.
import { status } from '@grpc/grpc-js';
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { MiB } from '../../src/domain/bytes.js';
import { backingFileShown } from '../../src/host/loop-sysfs.js';
import { findLoopsByBackingFile } from '../../src/host/losetup.js';
import { assertNoHostState, provision, publish, stage, startCluster, teardown, unpublish, unstage } from '../helpers/csi-flow.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { assertNoLeaks } from '../helpers/scratch.js';
import { sha256Head, writeRandomHead } from '../helpers/sha256.js';

after(assertNoLeaks);

/** Waits until the kernel has cleared `device` (its backing file gone from sysfs). */
async function clearedSoon(device: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (!(await backingFileShown(device))) return true;
    await sleep(20);
  }
  return false;
}

test('block: a re-stage while the old loop device is still held open gets a live device, and the data reads back', async (t) => {
  const c = await startCluster(t);
  const v = await provision(c, 'dying-loop', 'block', 64 * MiB);
  const written = await writeRandomHead(v.target, MiB);
  await unpublish(c, v.volumeId, v.target);

  const [old] = await findLoopsByBackingFile(c.imagePath(v.volumeId));
  assert.ok(old, 'the staged volume has a loop device');
  let holder: FileHandle | undefined = await open(old.device, 'r');
  t.after(() => holder?.close());
  await rejectsWithCode(
    unstage(c, v.volumeId, v.staging),
    status.FAILED_PRECONDITION,
    new RegExp(`${old.device}.*still open in another process`),
  );
  const [dying] = await findLoopsByBackingFile(c.imagePath(v.volumeId));
  assert.equal(dying?.device, old.device, 'held open, the old device is still bound after the unstage');
  assert.equal(dying?.autoclear, true, 'and the kernel marked it to clear on last close');
  await rejectsWithCode(unstage(c, v.volumeId, v.staging), status.FAILED_PRECONDITION, /still open/);
  assert.equal((await c.recordOf(v.volumeId)).staging.length, 1, 'the record keeps the staging while the unstage fails');

  await stage(c, v.volumeId, v.staging, 'block');
  await publish(c, v.volumeId, v.staging, v.target, 'block');
  await holder.close();
  holder = undefined;
  assert.ok(await clearedSoon(old.device), `${old.device} is cleared once its last opener closes`);

  assert.equal(await sha256Head(v.target, MiB), written, 'the published device still shows the volume data');
  const live = await findLoopsByBackingFile(c.imagePath(v.volumeId));
  assert.equal(live.length, 1, 'one live loop device backs the volume');
  assert.equal(live[0]!.autoclear, false);
  await teardown(c, v);
  await assertNoHostState(c);
});

test('block: an unstage refused while the loop device is held open succeeds once the holder closes it', async (t) => {
  const c = await startCluster(t);
  const v = await provision(c, 'held-unstage', 'block', 64 * MiB);
  await unpublish(c, v.volumeId, v.target);
  const [dev] = await findLoopsByBackingFile(c.imagePath(v.volumeId));
  assert.ok(dev, 'the staged volume has a loop device');
  let holder: FileHandle | undefined = await open(dev.device, 'r');
  t.after(() => holder?.close());
  await rejectsWithCode(unstage(c, v.volumeId, v.staging), status.FAILED_PRECONDITION, /still open in another process/);
  await holder.close();
  holder = undefined;
  assert.ok(await clearedSoon(dev.device), `${dev.device} is cleared once its last opener closes`);
  await unstage(c, v.volumeId, v.staging);
  assert.deepEqual((await c.recordOf(v.volumeId)).staging, [], 'the retry unstages the volume');
  assert.deepEqual(await findLoopsByBackingFile(c.imagePath(v.volumeId)), []);
  await teardown(c, v);
  await assertNoHostState(c);
});
