// Data written through a published volume survives unpublish/unstage cycles, a kill -9 of the
// node process, and a simulated host reboot (mounts and loop devices gone, node restarted).
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../src/domain/bytes.js';
import { detachLoop, findLoopsByBackingFile } from '../../src/host/losetup.js';
import { unmount } from '../../src/host/mount.js';
import { mountsAt } from '../../src/host/mountinfo.js';
import {
  assertNoHostState,
  provision,
  publish,
  stage,
  startCluster,
  teardown,
  unpublish,
  unstage,
  type Cluster,
  type VolumeKind,
} from '../helpers/csi-flow.js';
import { sha256File, sha256Head, writeRandomHead } from '../helpers/sha256.js';
import { assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

type Vol = { volumeId: string; staging: string; target: string };
const DATA_BYTES = 1 * MiB;

/** Writes random data through the target (a file, or the first MiB of a block device) and returns its sha256. */
async function writeData(kind: VolumeKind, v: Vol): Promise<string> {
  if (kind === 'block') return writeRandomHead(v.target, DATA_BYTES);
  const data = randomBytes(DATA_BYTES);
  await writeFile(join(v.target, 'data.bin'), data, { flush: true });
  return createHash('sha256').update(data).digest('hex');
}

async function readChecksum(kind: VolumeKind, v: Vol): Promise<string> {
  return kind === 'block' ? sha256Head(v.target, DATA_BYTES) : sha256File(join(v.target, 'data.bin'));
}

async function stageAndPublish(c: Cluster, kind: VolumeKind, v: Vol) {
  await stage(c, v.volumeId, v.staging, kind);
  await publish(c, v.volumeId, v.staging, v.target, kind);
}

/** One staging mount (filesystem volumes), one target mount, one loop device. */
async function assertStagedOnce(c: Cluster, kind: VolumeKind, v: Vol) {
  assert.equal((await findLoopsByBackingFile(c.imagePath(v.volumeId))).length, 1, 'one loop device');
  assert.equal((await mountsAt(v.staging)).length, kind === 'block' ? 0 : 1, 'staging mounted once');
  assert.equal((await mountsAt(v.target)).length, 1, 'target mounted once');
}

/** What a reboot does to this one volume: its mounts and its loop device are gone. Touches only our own. */
async function loseHostState(c: Cluster, v: Vol) {
  await unmount(v.target);
  await unmount(v.staging);
  for (const l of await findLoopsByBackingFile(c.imagePath(v.volumeId))) await detachLoop(l.device);
  assert.deepEqual(await findLoopsByBackingFile(c.imagePath(v.volumeId)), []);
}

for (const kind of ['ext4', 'xfs', 'btrfs', 'block'] as VolumeKind[]) {
  test(`${kind}: data survives unstage/stage, a kill -9 of the node, and a simulated reboot`, async (t) => {
    const c = await startCluster(t);
    const v = await provision(c, `survive-${kind}`, kind, 320 * MiB);
    const sum = await writeData(kind, v);

    await unpublish(c, v.volumeId, v.target);
    await unstage(c, v.volumeId, v.staging);
    assert.deepEqual(await findLoopsByBackingFile(c.imagePath(v.volumeId)), []);
    await stageAndPublish(c, kind, v);
    assert.equal(await readChecksum(kind, v), sum, 'after unstage and stage');

    await c.restartNode(); // kill -9: mounts and loop device stay
    await assertStagedOnce(c, kind, v);
    await stageAndPublish(c, kind, v);
    await assertStagedOnce(c, kind, v);
    assert.equal(await readChecksum(kind, v), sum, 'after kill -9 and restart');

    await loseHostState(c, v);
    await c.restartNode();
    await stageAndPublish(c, kind, v);
    await stageAndPublish(c, kind, v);
    await assertStagedOnce(c, kind, v);
    assert.equal(await readChecksum(kind, v), sum, 'after a simulated reboot');

    await teardown(c, v);
    await assertNoHostState(c);
  });
}

for (const kind of ['ext4', 'block'] as VolumeKind[]) {
  test(`${kind}: after a simulated reboot, unpublish and unstage of the vanished volume succeed`, async (t) => {
    const c = await startCluster(t);
    const v = await provision(c, `vanished-${kind}`, kind, 64 * MiB);
    await loseHostState(c, v);
    await c.restartNode();
    await unpublish(c, v.volumeId, v.target);
    await assert.rejects(access(v.target), 'the empty target left by the reboot is removed');
    await unstage(c, v.volumeId, v.staging);
    const record = await c.recordOf(v.volumeId);
    assert.deepEqual([record.staging, record.publications], [[], []]);
    await access(c.imagePath(v.volumeId)); // the image is still there
    await teardown(c, v); // all idempotent, then DeleteVolume
    await assertNoHostState(c);
  });
}
