// NodeExpandVolume and NodeGetVolumeStats on the fake host, without root (design: Host port).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { MiB } from '../../src/domain/bytes.js';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { nodeExpandVolume, nodeGetVolumeStats, nodeStageVolume } from '../helpers/node-requests.js';
import { fakeNode, type FakeNode } from '../helpers/fake-host.js';

const code = (c: Code) => (e: unknown) => e instanceof QuarryError && e.code === c;
const mountCap = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

async function staged(n: FakeNode, name: string) {
  const id = await n.volume(name);
  const staging = n.path(`${name}-staging`);
  await nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: mountCap });
  n.host.calls.length = 0;
  return { id, staging };
}

test('expand, own mount: grows the image, refreshes the loop, then grows the filesystem at that mount', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'grow');
  const r = await nodeExpandVolume(n.ctx, { volume_id: v.id, volume_path: v.staging, capacity_range: { required_bytes: 128 * MiB } });
  assert.equal(r.capacity_bytes, 128 * MiB);
  assert.deepEqual(n.host.calls, ['loops.refreshCapacity /dev/loop0', `fs.grow ext4 /dev/loop0 ${v.staging}`]);
});

test('expand, a foreign mount on top of the volume path: FAILED_PRECONDITION, nothing grown', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'covered');
  n.host.addForeignMount(v.staging);
  await assert.rejects(
    nodeExpandVolume(n.ctx, { volume_id: v.id, volume_path: v.staging, capacity_range: { required_bytes: 128 * MiB } }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.deepEqual(n.host.calls, []);
  assert.equal((await n.pool.volumes.read(v.id))!.sizeBytes, 64 * MiB, 'the image did not grow');
});

test('expand, not staged on this node: FAILED_PRECONDITION before anything grows', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('unstaged');
  const path = n.path('nowhere');
  await mkdir(path, { recursive: true });
  await assert.rejects(
    nodeExpandVolume(n.ctx, { volume_id: id, volume_path: path, capacity_range: { required_bytes: 128 * MiB } }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.deepEqual(n.host.calls, []);
});

test('expand, failure at the filesystem grow: the error passes through', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'grow-fails');
  n.host.failAt('fs.grow');
  await assert.rejects(
    nodeExpandVolume(n.ctx, { volume_id: v.id, volume_path: v.staging, capacity_range: { required_bytes: 128 * MiB } }),
    /injected failure/,
  );
});

test('stats of a mounted volume: bytes and inodes of its filesystem, healthy', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'stats');
  const r = await nodeGetVolumeStats(n.ctx, { volume_id: v.id, volume_path: v.staging });
  assert.deepEqual(
    r.usage?.map((u) => [u.unit, u.total]),
    [
      ['BYTES', 64 * MiB],
      ['INODES', 1000],
    ],
  );
  assert.equal(r.volume_condition?.abnormal, false);
});

test('stats of a recorded path where the volume is no longer mounted: abnormal, not an error', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'gone');
  n.host.table.length = 0; // unmounted behind Quarry's back
  const r = await nodeGetVolumeStats(n.ctx, { volume_id: v.id, volume_path: v.staging });
  assert.equal(r.volume_condition?.abnormal, true);
  assert.deepEqual(r.usage, []);
});

test('stats of a path showing a foreign mount: NOT_FOUND', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'foreign-stats');
  n.host.addForeignMount(v.staging);
  await assert.rejects(nodeGetVolumeStats(n.ctx, { volume_id: v.id, volume_path: v.staging }), code(Code.NOT_FOUND));
});
