// NodeStageVolume on the fake host: every branch, without root (design: Host port).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { nodeStageVolume } from '../helpers/node-requests.js';
import { fakeNode } from '../helpers/fake-host.js';

const code = (c: Code) => (e: unknown) => e instanceof QuarryError && e.code === c;
const mountCap = (flags: string[] = []) => ({
  mount: { fs_type: 'ext4', mount_flags: flags },
  access_mode: { mode: 'SINGLE_NODE_WRITER' as const },
});
const blockCap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
const steps = (calls: string[]) => calls.map((c) => c.split(' ')[0]);

test('stage, fresh: attaches, probes, formats, mounts, and records the device and formatState done', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('fresh');
  const staging = n.path('fresh');
  await nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: mountCap() });
  assert.deepEqual(steps(n.host.calls), ['loops.attach', 'fs.probe', 'fs.make', 'mounts.mount']);
  assert.equal(n.host.mountsAtPath(staging).length, 1);
  const rec = (await n.pool.volumes.read(id))!;
  assert.equal(rec.formatState, 'done');
  assert.deepEqual(
    rec.staging.map((s) => [s.stagingPath, s.device]),
    [[staging, '/dev/loop0']],
  );
});

test('stage, idempotent retry: the second call attaches, formats and mounts nothing more', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('again');
  const req = { volume_id: id, staging_target_path: n.path('again'), volume_capability: mountCap() };
  await nodeStageVolume(n.ctx, req);
  const before = n.host.calls.length;
  await nodeStageVolume(n.ctx, req);
  assert.deepEqual(n.host.calls.slice(before), []);
  assert.equal(n.host.mountsAtPath(req.staging_target_path).length, 1);
  assert.equal(n.host.devices.size, 1);
});

test('stage, foreign mount at the staging path: ALREADY_EXISTS, nothing attached or recorded', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('foreign');
  const staging = n.path('foreign');
  n.host.addForeignMount(staging);
  await assert.rejects(
    nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: mountCap() }),
    code(Code.ALREADY_EXISTS),
  );
  assert.deepEqual(n.host.calls, []);
  assert.equal(n.host.devices.size, 0);
  assert.deepEqual((await n.pool.volumes.read(id))!.staging, []);
});

for (const step of ['loops.attach', 'fs.probe', 'fs.make', 'mounts.mount'] as const) {
  test(`stage, failure at ${step}: the error passes through, the loop is detached and the staging record removed`, async (t) => {
    const n = await fakeNode(t);
    const id = await n.volume(`fail-${step}`);
    const staging = n.path('s');
    n.host.failAt(step, new Error(`boom at ${step}`));
    await assert.rejects(
      nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: mountCap() }),
      new RegExp(`boom at ${step}`),
    );
    assert.equal(n.host.devices.size, 0, 'no loop device left');
    assert.deepEqual(n.host.table, []);
    assert.deepEqual((await n.pool.volumes.read(id))!.staging, []);
  });
}

test('stage after a failed mount: formatState began is formatted again over the half-made filesystem, then done', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('began');
  const req = { volume_id: id, staging_target_path: n.path('began'), volume_capability: mountCap() };
  n.host.failAt('mounts.mount');
  await assert.rejects(nodeStageVolume(n.ctx, req), /injected failure/);
  assert.equal((await n.pool.volumes.read(id))!.formatState, 'began');
  n.host.calls.length = 0;
  await nodeStageVolume(n.ctx, req);
  const formats = n.host.calls.filter((c) => c.startsWith('fs.'));
  assert.deepEqual(formats, ['fs.make /dev/loop1 ext4 overwrite'], 'no probe: mkfs runs over the unfinished filesystem');
  assert.equal((await n.pool.volumes.read(id))!.formatState, 'done');
});

test('stage, formatState began while the volume is mounted elsewhere: FAILED_PRECONDITION, no mkfs', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('began-busy');
  await nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: n.path('a'), volume_capability: mountCap() });
  await n.pool.updateVolume(id, (v) => ({ ...v, formatState: 'began' }));
  n.host.calls.length = 0;
  await assert.rejects(
    nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: n.path('b'), volume_capability: mountCap() }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.ok(!n.host.calls.some((c) => c.startsWith('fs.make')));
  assert.equal(n.host.mountsAtPath(n.path('a')).length, 1, 'the first staging stays');
});

test('stage, a volume created for block is never formatted: staged as a filesystem it is FAILED_PRECONDITION', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('block-only', { accessTypes: ['block'] });
  await assert.rejects(
    nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: n.path('blk'), volume_capability: mountCap() }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.ok(!n.host.calls.some((c) => c.startsWith('fs.make')));
  assert.equal(n.host.devices.size, 0, 'rolled back');
});

test('stage as block: the loop is attached and recorded, nothing probed, formatted or mounted', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('block', { accessTypes: ['block'] });
  await nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: n.path('blk'), volume_capability: blockCap });
  assert.deepEqual(steps(n.host.calls), ['loops.attach']);
  assert.equal((await n.pool.volumes.read(id))!.staging[0]!.device, '/dev/loop0');
});

test('stage, a device holding another filesystem is never formatted over', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('other-fs');
  Object.assign(await n.host.contentOf(n.pool.volumeImagePath(id)), { fsType: 'xfs' });
  await assert.rejects(
    nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: n.path('o'), volume_capability: mountCap() }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.ok(!n.host.calls.some((c) => c.startsWith('fs.make')));
});

test('stage, a refused mount option is named (INVALID_ARGUMENT) after single-flag trials, and rolled back', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('bad-opt');
  n.host.badOptions.add('bogus');
  const staging = n.path('bad');
  await assert.rejects(
    nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: mountCap(['noatime', 'bogus']) }),
    (e: unknown) => code(Code.INVALID_ARGUMENT)(e) && /"bogus"/.test((e as Error).message),
  );
  assert.deepEqual(n.host.table, [], 'every trial mount was taken off again');
  assert.equal(n.host.devices.size, 0);
});

test('stage in shared mode without the current attachment token: FAILED_PRECONDITION before any host step', async (t) => {
  const n = await fakeNode(t, 'shared');
  const id = await n.volume('shared');
  await n.pool.updateVolume(id, (v) => ({
    ...v,
    attachments: [{ nodeId: 'node-a', token: 'good', accessMode: 'SINGLE_NODE_WRITER', readOnly: false }],
  }));
  const req = { volume_id: id, staging_target_path: n.path('sh'), volume_capability: mountCap() };
  await assert.rejects(
    nodeStageVolume(n.ctx, { ...req, publish_context: { 'quarry.csi.dev/attachment-token': 'stale' } }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.deepEqual(n.host.calls, []);
  await nodeStageVolume(n.ctx, { ...req, publish_context: { 'quarry.csi.dev/attachment-token': 'good' } });
  assert.equal(n.host.mountsAtPath(req.staging_target_path).length, 1);
});
