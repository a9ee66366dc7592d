// Shared mode across several nodes: one controller and two node processes over one pool, real
// loop devices, real ext4 volumes, real mounts, real sockets.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { topMountAt } from '../../src/host/mountinfo.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, scratchPoolDir, startQuarry } from '../helpers/quarry-process.js';
import { makeTempDir, onCleanup, assertNoLeaks } from '../helpers/scratch.js';
import {
  controllerPublish,
  controllerUnpublish,
  createVolume,
  FAILED_PRECONDITION,
  mountCap,
  NODE_B_LIMIT,
  stageAndPublish,
  startSharedCluster,
  tokenOf,
  unpublishAndUnstage,
} from './shared-cluster.js';

after(assertNoLeaks);

test('a single-node volume is refused to a second node, and handed over with its data after unpublish', async (t) => {
  const c = await startSharedCluster(t);
  const id = await createVolume(c, 'handover');

  const ctxA = await controllerPublish(c, id, 'node-a');
  assert.match(tokenOf(ctxA), /^[0-9a-f]{32}$/);
  assert.deepEqual(await controllerPublish(c, id, 'node-a'), ctxA, 'a repeated publish returns the same token');
  await rejectsWithCode(controllerPublish(c, id, 'node-b'), FAILED_PRECONDITION, /node node-a/);
  // node-b cannot stage with node-a's grant either.
  await rejectsWithCode(stageAndPublish(c, 'node-b', id, ctxA), FAILED_PRECONDITION, /not attached to node node-b/);

  const { target } = await stageAndPublish(c, 'node-a', id, ctxA);
  await writeFile(join(target, 'handover.txt'), 'written on node-a\n');
  const listed = await call(c.controller.clients.controller, 'ListVolumes', {});
  assert.deepEqual(listed.entries!.find((e) => e.volume!.volume_id === id)!.status!.published_node_ids, ['node-a']);

  await unpublishAndUnstage(c, 'node-a', id);
  await controllerUnpublish(c, id, 'node-a');
  await controllerUnpublish(c, id, 'node-a'); // idempotent
  const ctxB = await controllerPublish(c, id, 'node-b');
  assert.notEqual(tokenOf(ctxB), tokenOf(ctxA));
  const onB = await stageAndPublish(c, 'node-b', id, ctxB);
  assert.equal(await readFile(join(onB.target, 'handover.txt'), 'utf8'), 'written on node-a\n');
  await unpublishAndUnstage(c, 'node-b', id);
  await controllerUnpublish(c, id, 'node-b');
});

test('a stale attachment token is refused by NodeStageVolume', async (t) => {
  const c = await startSharedCluster(t);
  const id = await createVolume(c, 'stale');
  const old = await controllerPublish(c, id, 'node-a');
  await controllerUnpublish(c, id, 'node-a');
  const fresh = await controllerPublish(c, id, 'node-a');
  assert.notEqual(tokenOf(fresh), tokenOf(old), 're-publishing makes a new token');
  await rejectsWithCode(stageAndPublish(c, 'node-a', id, old), FAILED_PRECONDITION, /stale/);
  await rejectsWithCode(stageAndPublish(c, 'node-a', id, {}), FAILED_PRECONDITION, /stale/);
  const { staging } = c.paths('node-a', id);
  assert.equal(await topMountAt(staging).catch(() => undefined), undefined, 'nothing was mounted for the refused stage');
  await stageAndPublish(c, 'node-a', id, fresh);
  await unpublishAndUnstage(c, 'node-a', id);
  await controllerUnpublish(c, id, '');
  // Once unpublished from every node, even the fresh token is refused.
  await rejectsWithCode(stageAndPublish(c, 'node-a', id, fresh), FAILED_PRECONDITION, /not attached/);
});

test('MULTI_NODE_READER_ONLY: both nodes stage and publish read-only at once', async (t) => {
  const c = await startSharedCluster(t);
  const id = await createVolume(c, 'readers');
  // Give the volume a filesystem and a file first, as its single writer.
  const w = await controllerPublish(c, id, 'node-a');
  await writeFile(join((await stageAndPublish(c, 'node-a', id, w)).target, 'seed.txt'), 'seed\n');
  await unpublishAndUnstage(c, 'node-a', id);
  await controllerUnpublish(c, id, 'node-a');

  const mode = 'MULTI_NODE_READER_ONLY';
  const ctxA = await controllerPublish(c, id, 'node-a', mode);
  const ctxB = await controllerPublish(c, id, 'node-b', mode);
  // A writer cannot join the readers.
  await call(c.controller.clients.controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: 'node-b' });
  await rejectsWithCode(controllerPublish(c, id, 'node-b'), FAILED_PRECONDITION, /node node-a/);
  const ctxB2 = await controllerPublish(c, id, 'node-b', mode);
  assert.notEqual(tokenOf(ctxB2), tokenOf(ctxB));
  for (const [node, ctx] of [
    ['node-a', ctxA],
    ['node-b', ctxB2],
  ] as const) {
    const { staging, target } = await stageAndPublish(c, node, id, ctx, mode);
    assert.ok((await topMountAt(staging))!.options.includes('ro'), `${node} stages read-only`);
    assert.equal(await readFile(join(target, 'seed.txt'), 'utf8'), 'seed\n');
  }
  for (const node of ['node-a', 'node-b'] as const) {
    await assert.rejects(writeFile(join(c.paths(node, id).target, 'nope.txt'), 'x'), { code: 'EROFS' }, `${node} must not write`);
  }
  for (const node of ['node-a', 'node-b'] as const) await unpublishAndUnstage(c, node, id);
  await controllerUnpublish(c, id, '');
});

test('publish validates its request, knows its nodes, and honours the node limit', async (t) => {
  const c = await startSharedCluster(t);
  const ctl = c.controller.clients.controller;
  const id = await createVolume(c, 'checks');
  const cap = mountCap();
  await rejectsWithCode(
    call(ctl, 'ControllerPublishVolume', { node_id: 'node-a', volume_capability: cap } as any),
    grpc.status.INVALID_ARGUMENT,
  );
  await rejectsWithCode(
    call(ctl, 'ControllerPublishVolume', { volume_id: id, volume_capability: cap } as any),
    grpc.status.INVALID_ARGUMENT,
  );
  await rejectsWithCode(call(ctl, 'ControllerPublishVolume', { volume_id: id, node_id: 'node-a' }), grpc.status.INVALID_ARGUMENT);
  await rejectsWithCode(controllerPublish(c, 'vol-aaaaaaaaaaaaaaaaaaaa', 'node-a'), grpc.status.NOT_FOUND);
  await rejectsWithCode(controllerPublish(c, '../../etc', 'node-a'), grpc.status.NOT_FOUND);
  await rejectsWithCode(controllerPublish(c, id, 'node-z'), grpc.status.NOT_FOUND, /node node-z is not known/);
  await rejectsWithCode(controllerPublish(c, id, '../nodes/node-a'), grpc.status.NOT_FOUND);

  await controllerPublish(c, id, 'node-a');
  await rejectsWithCode(controllerPublish(c, id, 'node-a', 'SINGLE_NODE_WRITER', true), grpc.status.ALREADY_EXISTS);
  await rejectsWithCode(controllerPublish(c, id, 'node-a', 'SINGLE_NODE_READER_ONLY'), grpc.status.ALREADY_EXISTS);
  await controllerUnpublish(c, id, 'node-a');

  // node-b registered with --max-volumes-per-node 1.
  assert.equal(NODE_B_LIMIT, 1);
  const second = await createVolume(c, 'checks-2');
  await controllerPublish(c, id, 'node-b');
  await rejectsWithCode(controllerPublish(c, second, 'node-b'), grpc.status.RESOURCE_EXHAUSTED, /limit of 1/);
  await controllerUnpublish(c, id, 'node-b');
  await controllerPublish(c, second, 'node-b');
  await controllerUnpublish(c, second, 'node-b');

  // Unpublish is idempotent for anything that names no attachment.
  await call(ctl, 'ControllerUnpublishVolume', { volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa', node_id: 'node-a' });
  await call(ctl, 'ControllerUnpublishVolume', { volume_id: 'not-a-volume', node_id: 'node-a' });
  await call(ctl, 'ControllerUnpublishVolume', { volume_id: id, node_id: 'never-attached' });
  await rejectsWithCode(call(ctl, 'ControllerUnpublishVolume', { node_id: 'node-a' }), grpc.status.INVALID_ARGUMENT);
});

test('capabilities and topology: shared mode offers publish, local mode does not', async (t) => {
  const c = await startSharedCluster(t);
  const names = async (q: typeof c.controller) =>
    (await call(q.clients.controller, 'ControllerGetCapabilities', {})).capabilities!.map((x) => x.rpc!.type);
  const shared = await names(c.controller);
  for (const cap of ['PUBLISH_UNPUBLISH_VOLUME', 'PUBLISH_READONLY', 'LIST_VOLUMES_PUBLISHED_NODES'])
    assert.ok(shared.includes(cap as any), cap);
  const info = await call(c.nodes['node-b'].clients.node, 'NodeGetInfo', {});
  assert.equal(info.node_id, 'node-b');
  assert.equal(info.max_volumes_per_node, NODE_B_LIMIT);
  assert.equal(info.accessible_topology, null);
  const v = await call(c.controller.clients.controller, 'CreateVolume', {
    name: 'topo',
    capacity_range: { required_bytes: 1 << 20 },
    volume_capabilities: [mountCap()],
  } as any);
  c.track(v.volume!.volume_id);
  assert.deepEqual(v.volume!.accessible_topology, []);

  const { path } = await scratchPoolDir(t, { fsType: 'xfs' }, 'local-pool');
  const local = await startQuarry(t, {
    role: 'controller',
    dir: await makeTempDir(t, 'sock'),
    args: ['--nodeid', 'node-a', '--pool', path],
  });
  const localCaps = await names(local);
  assert.ok(!localCaps.includes('PUBLISH_UNPUBLISH_VOLUME' as any) && !localCaps.includes('PUBLISH_READONLY' as any));
  await rejectsWithCode(
    call(local.clients.controller, 'ControllerPublishVolume', {
      volume_id: v.volume!.volume_id,
      node_id: 'node-a',
      volume_capability: mountCap(),
    } as any),
    grpc.status.UNIMPLEMENTED,
  );
  await rejectsWithCode(
    call(local.clients.controller, 'ControllerUnpublishVolume', { volume_id: v.volume!.volume_id }),
    grpc.status.UNIMPLEMENTED,
  );
});

test('after a force-detach, node-b is refused while node-a still has the volume, and fenced node-a cannot publish it to a new pod', async (t) => {
  const c = await startSharedCluster(t);
  const id = await createVolume(c, 'fenced');
  const ctxA = await controllerPublish(c, id, 'node-a');
  await stageAndPublish(c, 'node-a', id, ctxA);
  // The CO gives up on an unreachable node-a and withdraws its grant; node-a's mounts stay.
  await controllerUnpublish(c, id, 'node-a');

  await rejectsWithCode(controllerPublish(c, id, 'node-b'), FAILED_PRECONDITION, /still in use on node node-a \(staged at .*published at /);

  const { staging } = c.paths('node-a', id);
  const newPod = join(c.fs.dir, 'node-a', 'pods', 'new-pod', 'mount');
  await mkdir(dirname(newPod), { recursive: true });
  onCleanup(t, () => call(c.nodes['node-a'].clients.node, 'NodeUnpublishVolume', { volume_id: id, target_path: newPod }));
  const publishNewPod = (ctx: Record<string, string>) =>
    call(c.nodes['node-a'].clients.node, 'NodePublishVolume', {
      volume_id: id,
      staging_target_path: staging,
      target_path: newPod,
      volume_capability: mountCap(),
      publish_context: ctx,
      readonly: false,
    } as any);
  await rejectsWithCode(publishNewPod(ctxA), FAILED_PRECONDITION, /not attached to node node-a/);
  await rejectsWithCode(publishNewPod({}), FAILED_PRECONDITION, /not attached to node node-a/);
  assert.equal(await topMountAt(newPod).catch(() => undefined), undefined, 'nothing was mounted for the new pod');

  // Once node-a has cleaned up, node-b gets the volume.
  await unpublishAndUnstage(c, 'node-a', id);
  const ctxB = await controllerPublish(c, id, 'node-b');
  await stageAndPublish(c, 'node-b', id, ctxB);
  await unpublishAndUnstage(c, 'node-b', id);
  await controllerUnpublish(c, id, 'node-b');
});
