// NodeGetVolumeStats, NodeExpandVolume, NodeGetInfo and NodeGetCapabilities through real quarry processes.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, rename, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { deviceSizeBytes } from '../../src/host/blockdev.js';
import { CAP_SYS_RESOURCE, hasCapability } from '../../src/host/capabilities.js';
import { findLoopsByBackingFile } from '../../src/host/losetup.js';
import { unmount } from '../../src/host/mount.js';
import {
  assertNoHostState,
  deleteVolume,
  provision,
  startCluster,
  teardown,
  unpublish,
  unstage,
  type Cluster,
  type VolumeKind,
} from '../helpers/csi-flow.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { onCleanup, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

interface Usage {
  unit: string;
  total: number;
  available: number;
  used: number;
}
interface Stats {
  usage: Usage[];
  volume_condition: { abnormal: boolean; message: string } | null;
}

function volumeStats(c: Cluster, volumeId: string, volumePath: string): Promise<Stats> {
  return call(c.nodeClients.node, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: volumePath } as never) as Promise<Stats>;
}

function expand(c: Cluster, volumeId: string, volumePath: string, stagingPath: string, kind: VolumeKind, requiredBytes: number) {
  return call(c.nodeClients.node, 'NodeExpandVolume', {
    volume_id: volumeId,
    volume_path: volumePath,
    staging_target_path: stagingPath,
    capacity_range: { required_bytes: requiredBytes },
    volume_capability:
      kind === 'block'
        ? { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }
        : { mount: { fs_type: kind }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
  } as never) as Promise<{ capacity_bytes: number }>;
}

async function loopDevice(c: Cluster, volumeId: string): Promise<string> {
  return (await findLoopsByBackingFile(c.imagePath(volumeId)))[0]!.device;
}

for (const kind of ['ext4', 'xfs', 'btrfs'] as VolumeKind[]) {
  test(`${kind}: stats report bytes and inodes as statfs does, and a healthy condition`, async (t) => {
    const c = await startCluster(t);
    const v = await provision(c, `stats-${kind}`, kind);
    for (const path of [v.target, v.staging]) {
      const s = await volumeStats(c, v.volumeId, path);
      const fs = await statfs(path);
      const bytes = s.usage.find((u) => u.unit === 'BYTES')!;
      const inodes = s.usage.find((u) => u.unit === 'INODES')!;
      assert.equal(bytes.total, fs.blocks * fs.bsize);
      assert.ok(bytes.available > 0 && bytes.available <= bytes.total);
      assert.equal(inodes.total, fs.files);
      assert.deepEqual(s.volume_condition, { abnormal: false, message: 'volume is healthy' });
    }
    await teardown(c, v);
    await assertNoHostState(c);
  });
}

test('block: stats report the device size in bytes', async (t) => {
  const c = await startCluster(t);
  const v = await provision(c, 'stats-block', 'block', 64 * MiB);
  const s = await volumeStats(c, v.volumeId, v.target);
  assert.deepEqual(
    s.usage.map((u) => [u.unit, u.total]),
    [['BYTES', 64 * MiB]],
  );
  assert.equal(s.volume_condition?.abnormal, false);
  await teardown(c, v);
  await assertNoHostState(c);
});

test('stats: abnormal when the mount vanished or the image is gone; NOT_FOUND for a path without a Quarry volume', async (t) => {
  const c = await startCluster(t);
  const v = await provision(c, 'cond', 'ext4', 64 * MiB);
  const w = await provision(c, 'other', 'ext4', 64 * MiB);

  const plain = join(c.workDir, 'plain');
  await mkdir(plain);
  await rejectsWithCode(volumeStats(c, v.volumeId, plain), grpc.status.NOT_FOUND);
  await rejectsWithCode(volumeStats(c, v.volumeId, join(c.workDir, 'missing')), grpc.status.NOT_FOUND);
  await rejectsWithCode(volumeStats(c, v.volumeId, w.target), grpc.status.NOT_FOUND, /no Quarry volume/);
  await rejectsWithCode(volumeStats(c, 'vol-aaaaaaaaaaaaaaaaaaaa', v.target), grpc.status.NOT_FOUND);

  // The image renamed away while staged: the loop still serves it, but the pool has lost it.
  const image = c.imagePath(v.volumeId);
  const aside = `${image}.aside`;
  await rename(image, aside);
  const restore = () => rename(aside, image).catch(() => undefined);
  onCleanup(t, restore);
  const missing = await volumeStats(c, v.volumeId, v.target);
  assert.equal(missing.volume_condition?.abnormal, true, JSON.stringify(missing));
  assert.match(missing.volume_condition!.message, /image/);
  await restore();
  assert.equal((await volumeStats(c, v.volumeId, v.target)).volume_condition?.abnormal, false);

  // The target unmounted behind Quarry's back.
  await unmount(v.target);
  const vanished = await volumeStats(c, v.volumeId, v.target);
  assert.equal(vanished.volume_condition?.abnormal, true);
  assert.match(vanished.volume_condition!.message, /no longer mounted/);
  await unpublish(c, v.volumeId, v.target);
  await unstage(c, v.volumeId, v.staging);
  await deleteVolume(c, v.volumeId);
  await teardown(c, w);
  await assertNoHostState(c);
});

for (const kind of ['ext4', 'xfs', 'btrfs', 'block'] as VolumeKind[]) {
  test(`${kind}: NodeExpandVolume grows image, loop device${kind === 'block' ? '' : ' and the mounted filesystem'} online`, async (t) => {
    if (kind === 'ext4' && !(await hasCapability(CAP_SYS_RESOURCE))) {
      t.skip('ext4 online resize needs CAP_SYS_RESOURCE (CapEff bit 24), which this host lacks');
      return;
    }
    const c = await startCluster(t);
    const v = await provision(c, `grow-${kind}`, kind, 320 * MiB);
    const fsBefore = kind === 'block' ? 0 : (await statfs(v.target)).blocks * (await statfs(v.target)).bsize;
    const wanted = 512 * MiB;
    const res = await expand(c, v.volumeId, v.target, v.staging, kind, wanted);
    assert.equal(res.capacity_bytes, wanted);
    assert.equal((await stat(c.imagePath(v.volumeId))).size, wanted, 'image grown');
    assert.equal((await c.recordOf(v.volumeId)).sizeBytes, wanted, 'record updated');
    assert.equal(await deviceSizeBytes(await loopDevice(c, v.volumeId)), wanted, 'loop device grown');
    if (kind === 'block') {
      assert.equal((await stat(v.target)).isBlockDevice(), true);
      assert.equal((await volumeStats(c, v.volumeId, v.target)).usage[0]!.total, wanted);
    } else {
      const fs = await statfs(v.target);
      assert.ok(fs.blocks * fs.bsize > fsBefore + 150 * MiB, `filesystem grown: ${fsBefore} -> ${fs.blocks * fs.bsize}`);
    }
    assert.equal((await expand(c, v.volumeId, v.target, v.staging, kind, wanted)).capacity_bytes, wanted, 'idempotent');
    await teardown(c, v);
    await assertNoHostState(c);
  });
}

test('NodeGetInfo and NodeGetCapabilities', async (t) => {
  const c = await startCluster(t, { nodeId: 'worker-7', maxVolumesPerNode: 7 });
  const info = (await call(c.nodeClients.node, 'NodeGetInfo', {} as never)) as {
    node_id: string;
    max_volumes_per_node: number;
    accessible_topology: { segments: Record<string, string> } | null;
  };
  assert.equal(info.node_id, 'worker-7');
  assert.equal(info.max_volumes_per_node, 7);
  assert.deepEqual(info.accessible_topology?.segments, { 'topology.quarry.csi.dev/node': 'worker-7' });
  const caps = (await call(c.nodeClients.node, 'NodeGetCapabilities', {} as never)) as { capabilities: Array<{ rpc: { type: string } }> };
  assert.deepEqual(caps.capabilities.map((x) => x.rpc.type).sort(), [
    'EXPAND_VOLUME',
    'GET_VOLUME_STATS',
    'SINGLE_NODE_MULTI_WRITER',
    'STAGE_UNSTAGE_VOLUME',
    'VOLUME_CONDITION',
  ]);
  await assertNoHostState(c);
});
