// NodeStageVolume / NodeUnstageVolume through real quarry controller + node processes.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { probeDevice } from '../../src/host/blkid.js';
import { run } from '../../src/host/exec.js';
import { findLoopsByBackingFile } from '../../src/host/losetup.js';
import { mountsAt, topMountAt } from '../../src/host/mountinfo.js';
import {
  assertNoHostState,
  createVolume,
  deleteVolume,
  stage,
  startCluster,
  unstage,
  volumePaths,
  type Cluster,
  type VolumeKind,
} from '../helpers/csi-flow.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { sha256File } from '../helpers/sha256.js';
import { assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

async function loopsOf(c: Cluster, volumeId: string) {
  return findLoopsByBackingFile(c.imagePath(volumeId));
}

for (const kind of ['ext4', 'xfs', 'btrfs', 'block'] as VolumeKind[]) {
  test(`${kind}: stage attaches with direct I/O, reuses the attachment, formats only a blank device, unstage detaches`, async (t) => {
    const c = await startCluster(t);
    const id = await createVolume(c, `stage-${kind}`, kind);
    const { staging } = await volumePaths(c, 'v');
    const flags = kind === 'block' ? [] : ['noatime'];
    await stage(c, id, staging, kind, { mountFlags: flags });
    await stage(c, id, staging, kind, { mountFlags: flags }); // idempotent

    const loops = await loopsOf(c, id);
    assert.equal(loops.length, 1, 'staging twice must reuse the one loop device');
    const device = loops[0]!.device;
    assert.equal((await readFile(`/sys/block/${basename(device)}/loop/dio`, 'utf8')).trim(), '1', 'direct I/O must be on');
    const record = await c.recordOf(id);
    assert.deepEqual(
      record.staging.map((s) => [s.nodeId, s.stagingPath, s.device]),
      [[c.nodeId, staging, device]],
    );

    if (kind === 'block') {
      assert.equal(await topMountAt(staging), undefined, 'a block volume mounts nothing at the staging path');
      assert.deepEqual(await probeDevice(device), { kind: 'blank' }, 'a block volume is never formatted');
    } else {
      const m = await topMountAt(staging);
      assert.ok(m, 'staging path is mounted');
      assert.equal(m.fsType, kind);
      assert.equal(m.source, device);
      assert.equal((await mountsAt(staging)).length, 1, 'staging twice mounts once');
      assert.ok(m.options.includes('noatime'), `mount_flags applied: ${m.options.join(',')}`);
      const probe = await probeDevice(device);
      assert.equal(probe.kind === 'filesystem' && probe.fsType, kind);
      await writeFile(join(staging, 'marker'), 'kept');

      // Unstage and stage again: the existing filesystem is mounted, not re-made.
      await unstage(c, id, staging);
      await stage(c, id, staging, kind);
      const again = await probeDevice((await loopsOf(c, id))[0]!.device);
      assert.equal(again.kind === 'filesystem' && again.uuid, probe.kind === 'filesystem' && probe.uuid, 'same filesystem UUID');
      assert.equal(await readFile(join(staging, 'marker'), 'utf8'), 'kept');
    }

    await unstage(c, id, staging);
    await unstage(c, id, staging); // idempotent
    assert.equal((await mountsAt(staging)).length, 0);
    assert.deepEqual(await loopsOf(c, id), [], 'unstage detaches the loop device');
    assert.deepEqual((await c.recordOf(id)).staging, []);
    assert.ok((await stat(staging)).isDirectory(), 'the staging directory belongs to the CO and stays');
    await deleteVolume(c, id);
    await assertNoHostState(c);
  });
}

/** Writes a DOS partition table (one Linux partition) into the first sector, as fdisk would. */
async function writeMbr(path: string) {
  const sector = Buffer.alloc(512);
  Buffer.from([0x00, 0x20, 0x21, 0x00, 0x83, 0xfe, 0xff, 0xff]).copy(sector, 446);
  sector.writeUInt32LE(2048, 454);
  sector.writeUInt32LE(100_000, 458);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  const fd = await open(path, 'r+');
  await fd.write(sector, 0, 512, 0);
  await fd.close();
}

const foreign: Array<[string, (image: string) => Promise<unknown>, RegExp]> = [
  ['an xfs filesystem', (image) => run('mkfs.xfs', ['-q', image]), /xfs/],
  ['a partition table', writeMbr, /partition table/],
];

for (const [what, write, mentions] of foreign) {
  test(`stage refuses an ext4 volume whose image holds ${what}, and never formats it`, async (t) => {
    const c = await startCluster(t);
    const id = await createVolume(c, `foreign-${what.replace(/\W+/g, '-')}`, 'ext4', 320 * MiB);
    await write(c.imagePath(id));
    const before = await sha256File(c.imagePath(id));
    const { staging } = await volumePaths(c, 'v');
    for (let i = 0; i < 2; i++) {
      const e = await rejectsWithCode(stage(c, id, staging, 'ext4'), grpc.status.FAILED_PRECONDITION, mentions);
      assert.match(e.details, /never formats/);
    }
    assert.equal(await sha256File(c.imagePath(id)), before, 'the image bytes are unchanged');
    assert.equal((await mountsAt(staging)).length, 0, 'nothing mounted after the refusal');
    assert.deepEqual(await loopsOf(c, id), [], 'the failed stage detached its loop device');
    assert.deepEqual((await c.recordOf(id)).staging, [], 'the failed stage left no staging entry');
    await unstage(c, id, staging);
    await deleteVolume(c, id);
    await assertNoHostState(c);
  });
}

test('stage rejects a capability whose fs_type differs from the volume record', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'fs-mismatch', 'ext4', 64 * MiB);
  const { staging } = await volumePaths(c, 'v');
  await rejectsWithCode(stage(c, id, staging, 'xfs'), grpc.status.INVALID_ARGUMENT, /ext4/);
  assert.deepEqual(await loopsOf(c, id), []);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('unstage of a volume that was never staged, and stage of an unknown volume', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'never-staged', 'ext4', 64 * MiB);
  const { staging } = await volumePaths(c, 'v');
  await unstage(c, id, staging);
  await rejectsWithCode(stage(c, 'vol-aaaaaaaaaaaaaaaaaaaa', staging, 'ext4'), grpc.status.NOT_FOUND);
  await rejectsWithCode(stage(c, '../../etc', staging, 'ext4'), grpc.status.NOT_FOUND);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});
