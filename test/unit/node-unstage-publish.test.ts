// NodeUnstageVolume, NodePublishVolume and NodeUnpublishVolume on the fake host, without root (design: Host port).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { nodePublishVolume, nodeStageVolume, nodeUnpublishVolume, nodeUnstageVolume } from '../helpers/node-requests.js';
import type { AccessModeModeName } from '../../src/wire/types.js';
import { fakeNode, type FakeNode } from '../helpers/fake-host.js';

const code = (c: Code) => (e: unknown) => e instanceof QuarryError && e.code === c;
const mountCap = (mode: AccessModeModeName = 'SINGLE_NODE_WRITER') => ({ mount: { fs_type: 'ext4' }, access_mode: { mode } });
const blockCap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

async function staged(n: FakeNode, name: string, block = false) {
  const id = await n.volume(name, block ? { accessTypes: ['block'] } : {});
  const staging = n.path(`${name}-staging`);
  await nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: block ? blockCap : mountCap() });
  n.host.calls.length = 0;
  return { id, staging, target: n.path(`${name}-target`) };
}

test('unstage, ours: unmounts the volume, detaches its loop, removes the staging record', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'ours');
  await nodeUnstageVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging });
  assert.deepEqual(
    n.host.calls.map((c) => c.split(' ')[0]),
    ['mounts.unmountTop', 'loops.detach'],
  );
  assert.deepEqual(n.host.table, []);
  assert.equal(n.host.devices.size, 0);
  assert.deepEqual((await n.pool.volumes.read(v.id))!.staging, []);
});

test('unstage, foreign mount on top of ours: FAILED_PRECONDITION, nothing unmounted or detached', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'covered');
  n.host.addForeignMount(v.staging);
  await assert.rejects(nodeUnstageVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging }), code(Code.FAILED_PRECONDITION));
  assert.deepEqual(n.host.calls, []);
  assert.equal(n.host.mountsAtPath(v.staging).length, 2);
  assert.equal((await n.pool.volumes.read(v.id))!.staging.length, 1);
});

test('unstage, only a foreign mount at the path: success, the foreign mount untouched', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('foreign-only');
  const staging = n.path('foreign-only');
  n.host.addForeignMount(staging);
  await nodeUnstageVolume(n.ctx, { volume_id: id, staging_target_path: staging });
  assert.ok(!n.host.calls.some((c) => c.startsWith('mounts.unmountTop')));
  assert.equal(n.host.mountsAtPath(staging).length, 1);
});

test('unstage, nothing there: success and no host change (idempotent)', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'twice');
  await nodeUnstageVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging });
  n.host.calls.length = 0;
  await nodeUnstageVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging });
  assert.deepEqual(n.host.calls, []);
});

test('unstage while still published: the loop stays for the publication; unpublish then detaches it', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'block-pub', true);
  await nodePublishVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging, target_path: v.target, volume_capability: blockCap });
  await nodeUnstageVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging });
  assert.equal(n.host.devices.size, 1, 'kept for the publication');
  await nodeUnpublishVolume(n.ctx, { volume_id: v.id, target_path: v.target });
  assert.equal(n.host.devices.size, 0);
  assert.deepEqual(n.host.table, []);
  assert.equal(await exists(v.target), false, 'the empty target file is removed');
});

test('publish, fresh then idempotent: one bind of the staging mount, recorded once', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'pub');
  const req = { volume_id: v.id, staging_target_path: v.staging, target_path: v.target, volume_capability: mountCap() };
  await nodePublishVolume(n.ctx, req);
  await nodePublishVolume(n.ctx, req);
  assert.deepEqual(
    n.host.calls.map((c) => c.split(' ')[0]),
    ['mounts.bind'],
  );
  assert.equal(n.host.mountsAtPath(v.target).length, 1);
  assert.equal((await n.pool.volumes.read(v.id))!.publications.length, 1);
});

test('publish, not staged: FAILED_PRECONDITION, nothing bound', async (t) => {
  const n = await fakeNode(t);
  const id = await n.volume('unstaged');
  await assert.rejects(
    nodePublishVolume(n.ctx, { volume_id: id, staging_target_path: n.path('s'), target_path: n.path('t'), volume_capability: mountCap() }),
    code(Code.FAILED_PRECONDITION),
  );
  assert.deepEqual(n.host.calls, []);
});

test('publish, a foreign mount at the target: ALREADY_EXISTS, not recorded', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'foreign-target');
  n.host.addForeignMount(v.target);
  await assert.rejects(
    nodePublishVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging, target_path: v.target, volume_capability: mountCap() }),
    code(Code.ALREADY_EXISTS),
  );
  assert.deepEqual((await n.pool.volumes.read(v.id))!.publications, []);
});

test('publish, same target with another read-only flag: ALREADY_EXISTS', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'ro-flip');
  const req = { volume_id: v.id, staging_target_path: v.staging, target_path: v.target, volume_capability: mountCap() };
  await nodePublishVolume(n.ctx, { ...req, readonly: true });
  assert.deepEqual(n.host.mountsAtPath(v.target)[0]!.options.slice(0, 1), ['ro']);
  await assert.rejects(nodePublishVolume(n.ctx, req), code(Code.ALREADY_EXISTS));
});

test('publish a block volume read-only: bound from its own read-only loop device, not the staged one', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'block-ro', true);
  await nodePublishVolume(n.ctx, {
    volume_id: v.id,
    staging_target_path: v.staging,
    target_path: v.target,
    volume_capability: blockCap,
    readonly: true,
  });
  assert.deepEqual(n.host.calls, [`loops.attach ${n.pool.volumeImagePath(v.id)} ro`, `mounts.bind /dev/loop1 ${v.target} ro`]);
});

test('publish in shared mode after the grant was withdrawn: FAILED_PRECONDITION, nothing bound', async (t) => {
  const n = await fakeNode(t, 'shared');
  const id = await n.volume('grant');
  await n.pool.updateVolume(id, (v) => ({
    ...v,
    attachments: [{ nodeId: 'node-a', token: 'tok', accessMode: 'SINGLE_NODE_WRITER', readOnly: false }],
  }));
  const staging = n.path('grant-s');
  const ctx = { 'quarry.csi.dev/attachment-token': 'tok' };
  await nodeStageVolume(n.ctx, { volume_id: id, staging_target_path: staging, volume_capability: mountCap(), publish_context: ctx });
  await n.pool.updateVolume(id, (v) => ({ ...v, attachments: [] }));
  n.host.calls.length = 0;
  const req = { volume_id: id, staging_target_path: staging, target_path: n.path('grant-t'), volume_capability: mountCap() };
  await assert.rejects(nodePublishVolume(n.ctx, { ...req, publish_context: ctx }), code(Code.FAILED_PRECONDITION));
  await n.pool.updateVolume(id, (v) => ({
    ...v,
    attachments: [{ nodeId: 'node-a', token: 'new', accessMode: 'SINGLE_NODE_WRITER', readOnly: false }],
  }));
  await assert.rejects(nodePublishVolume(n.ctx, { ...req, publish_context: ctx }), /stale/);
  assert.deepEqual(n.host.calls, []);
});

test('publish, failure at the bind: the error passes through and no mount is left at the target', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'bind-fails');
  n.host.failAt('mounts.bind');
  await assert.rejects(
    nodePublishVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging, target_path: v.target, volume_capability: mountCap() }),
    /injected failure/,
  );
  assert.deepEqual(n.host.mountsAtPath(v.target), []);
  // Recorded before the target was made: unpublish then cleans up the target it names.
  await nodeUnpublishVolume(n.ctx, { volume_id: v.id, target_path: v.target });
  assert.equal(await exists(v.target), false);
  assert.deepEqual((await n.pool.volumes.read(v.id))!.publications, []);
});

test('unpublish, ours: unmounts, removes the target directory and the record; again: nothing to do', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'unpub');
  await nodePublishVolume(n.ctx, { volume_id: v.id, staging_target_path: v.staging, target_path: v.target, volume_capability: mountCap() });
  await nodeUnpublishVolume(n.ctx, { volume_id: v.id, target_path: v.target });
  assert.deepEqual(n.host.mountsAtPath(v.target), []);
  assert.equal(await exists(v.target), false);
  assert.deepEqual((await n.pool.volumes.read(v.id))!.publications, []);
  n.host.calls.length = 0;
  await nodeUnpublishVolume(n.ctx, { volume_id: v.id, target_path: v.target });
  assert.deepEqual(n.host.calls, []);
  assert.equal(n.host.mountsAtPath(v.staging).length, 1, 'the staging mount is not touched');
});

test('unpublish, a foreign mount over the volume at a target it was never published to: FAILED_PRECONDITION', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'unrecorded');
  // The volume shown at a path with no publication record, covered by a foreign mount.
  await n.host.mounts.bind(v.staging, v.target, {});
  n.host.addForeignMount(v.target);
  n.host.calls.length = 0;
  await assert.rejects(nodeUnpublishVolume(n.ctx, { volume_id: v.id, target_path: v.target }), code(Code.FAILED_PRECONDITION));
  assert.deepEqual(n.host.calls, []);
  assert.equal(n.host.mountsAtPath(v.target).length, 2);
});

test('unpublish, only a foreign mount at the target: success, untouched', async (t) => {
  const n = await fakeNode(t);
  const v = await staged(n, 'foreign-unpub');
  n.host.addForeignMount(v.target);
  await nodeUnpublishVolume(n.ctx, { volume_id: v.id, target_path: v.target });
  assert.equal(n.host.mountsAtPath(v.target).length, 1);
  assert.deepEqual(n.host.calls, []);
});
