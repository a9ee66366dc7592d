/**
 * Test helper for shared mode: one `quarry controller --shared` and two `quarry node --shared`
 * processes (node-a, node-b) over one pool on a loop-mounted scratch XFS, each node with its own
 * staging and target directories. Everything is torn down through the services first, then by
 * killing only the processes started here, then by the scratch helpers.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { ATTACHMENT_TOKEN_KEY } from '../../src/services/node/shared-attachment.js';
import { call } from '../helpers/grpc-client.js';
import { startQuarry, scratchPoolDir, type QuarryProcess } from '../helpers/quarry-process.js';
import { onCleanup, type HasAfter, type ScratchFs } from '../helpers/scratch.js';

export type NodeName = 'node-a' | 'node-b';

export interface SharedCluster {
  fs: ScratchFs;
  pool: string;
  runDir: string;
  controller: QuarryProcess;
  nodes: Record<NodeName, QuarryProcess>;
  /** Starts (or restarts) the controller, optionally with a fault point. */
  startController(env?: Record<string, string>): Promise<QuarryProcess>;
  paths(node: NodeName, volumeId: string): { staging: string; target: string };
  /** Remembers a volume so teardown unpublishes, unstages and deletes it through the services. */
  track(volumeId: string): void;
}

export const NODE_B_LIMIT = 1;

export function mountCap(mode = 'SINGLE_NODE_WRITER') {
  return { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode } };
}

export async function startSharedCluster(t: HasAfter): Promise<SharedCluster> {
  const { fs, path: pool } = await scratchPoolDir(t, { fsType: 'xfs' });
  const runDir = join(fs.dir, 'run');
  await mkdir(runDir);
  let starts = 0;
  // A fresh socket name per start: a killed controller leaves its socket file behind.
  const startController = (env?: Record<string, string>) =>
    startQuarry(t, { role: 'controller', dir: runDir, socketName: `ctrl-${++starts}.sock`, args: ['--shared', '--pool', pool], env });
  const startNode = (name: NodeName, extra: string[] = []) =>
    startQuarry(t, {
      role: 'node',
      dir: runDir,
      socketName: `${name}.sock`,
      args: ['--shared', '--nodeid', name, '--pool', pool, ...extra],
    });
  const nodes = {
    'node-a': await startNode('node-a'),
    'node-b': await startNode('node-b', ['--max-volumes-per-node', String(NODE_B_LIMIT)]),
  };
  const cluster: SharedCluster = {
    fs,
    pool,
    runDir,
    controller: await startController(),
    nodes,
    startController: async (env) => {
      cluster.controller = await startController(env);
      // The new process's kill runs before earlier cleanups; tear volumes down before it.
      onCleanup(t, teardown);
      return cluster.controller;
    },
    paths: (node, volumeId) => ({
      staging: join(fs.dir, node, 'staging', volumeId),
      target: join(fs.dir, node, 'pods', volumeId, 'mount'),
    }),
    track: (id) => void tracked.add(id),
  };
  const tracked = new Set<string>();
  let tornDown = false;
  const teardown = async () => {
    if (tornDown) return;
    tornDown = true;
    await teardownVolumes(cluster, [...tracked]);
  };
  // Registered after the processes, so it runs before they are killed.
  onCleanup(t, teardown);
  return cluster;
}

async function teardownVolumes(c: SharedCluster, ids: string[]): Promise<void> {
  const errors: unknown[] = [];
  const keep = (e: { code?: number }) => void (e.code !== grpc.status.NOT_FOUND && errors.push(e));
  for (const id of ids) {
    for (const name of ['node-a', 'node-b'] as NodeName[]) {
      const { staging, target } = c.paths(name, id);
      const node = c.nodes[name].clients.node;
      await call(node, 'NodeUnpublishVolume', { volume_id: id, target_path: target }).catch(keep);
      await call(node, 'NodeUnstageVolume', { volume_id: id, staging_target_path: staging }).catch(keep);
    }
    await call(c.controller.clients.controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: '' }).catch(keep);
    await call(c.controller.clients.controller, 'DeleteVolume', { volume_id: id }).catch(keep);
  }
  if (errors.length) throw new AggregateError(errors, 'shared-mode teardown through the services failed');
}

export async function createVolume(c: SharedCluster, name: string): Promise<string> {
  const res = await call(c.controller.clients.controller, 'CreateVolume', {
    name,
    capacity_range: { required_bytes: 64 * MiB },
    volume_capabilities: [mountCap()],
  } as any);
  c.track(res.volume!.volume_id);
  return res.volume!.volume_id;
}

export async function controllerPublish(c: SharedCluster, volumeId: string, node: string, mode = 'SINGLE_NODE_WRITER', readonly = false) {
  const res = await call(c.controller.clients.controller, 'ControllerPublishVolume', {
    volume_id: volumeId,
    node_id: node,
    volume_capability: mountCap(mode),
    readonly,
  } as any);
  return res.publish_context ?? {};
}

export function controllerUnpublish(c: SharedCluster, volumeId: string, node: string) {
  return call(c.controller.clients.controller, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: node });
}

export function tokenOf(ctx: Record<string, string>): string {
  return ctx[ATTACHMENT_TOKEN_KEY]!;
}

/** NodeStage then NodePublish on one node, as kubelet does after the attacher. */
export async function stageAndPublish(
  c: SharedCluster,
  node: NodeName,
  volumeId: string,
  publishContext: Record<string, string>,
  mode = 'SINGLE_NODE_WRITER',
) {
  const { staging, target } = c.paths(node, volumeId);
  const client = c.nodes[node].clients.node;
  await call(
    client,
    'NodeStageVolume',
    { volume_id: volumeId, staging_target_path: staging, volume_capability: mountCap(mode), publish_context: publishContext } as any,
    { timeoutMs: 60_000 },
  );
  await call(client, 'NodePublishVolume', {
    volume_id: volumeId,
    staging_target_path: staging,
    target_path: target,
    volume_capability: mountCap(mode),
    publish_context: publishContext,
    readonly: false,
  } as any);
  return { staging, target };
}

export async function unpublishAndUnstage(c: SharedCluster, node: NodeName, volumeId: string) {
  const { staging, target } = c.paths(node, volumeId);
  const client = c.nodes[node].clients.node;
  await call(client, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: target });
  await call(client, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging });
}

export const FAILED_PRECONDITION = grpc.status.FAILED_PRECONDITION;
