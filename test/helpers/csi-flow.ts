// Test helper: a real `quarry controller` and `quarry node` sharing one pool on a loop-mounted XFS
// scratch fs, typed gRPC clients to both, and the CSI volume life cycle as small functions.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as assert from 'node:assert/strict';
import { MiB } from '../../src/domain/bytes.js';
import type { FsType } from '../../src/domain/volume.js';
import { detachLoop, findLoopsByBackingFile } from '../../src/host/losetup.js';
import { unmount } from '../../src/host/mount.js';
import { mountsUnder } from '../../src/host/mountinfo.js';
import type { VolumeRecord } from '../../src/storage/records.js';
import { call, type CsiClients } from './grpc-client.js';
import { startQuarry, type QuarryProcess } from './quarry-process.js';
import { makeScratchFs, makeTempDir, onCleanup, type HasAfter, type ScratchFs } from './scratch.js';

export interface ClusterOptions {
  nodeId?: string;
  maxVolumesPerNode?: number;
  /** Extra environment for the node process (e.g. a PATH with a test double in front). */
  nodeEnv?: Record<string, string>;
  /** The node's --kubelet-dir; default the test's work dir, where its staging and target paths live. */
  kubeletDir?: string;
}

export interface Cluster {
  nodeId: string;
  poolPath: string;
  scratch: ScratchFs;
  /** Staging and target paths of this test live under here. */
  workDir: string;
  controller: QuarryProcess;
  node: QuarryProcess;
  ctl: CsiClients;
  nodeClients: CsiClients;
  /** Kill -9 the node process (mounts and loop devices stay) and start a new one on the same socket. */
  restartNode(env?: Record<string, string>): Promise<void>;
  imagePath(volumeId: string): string;
  recordOf(volumeId: string): Promise<VolumeRecord>;
}

/**
 * Starts a controller and a node process (local mode, one node ID) over a fresh pool. Cleanup, in
 * order: kill both processes, unmount everything under the work dir, detach loops over the pool's
 * images, then remove the work dir and the scratch fs — also when the test failed.
 */
export async function startCluster(t: HasAfter, opts: ClusterOptions = {}): Promise<Cluster> {
  const scratch = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 2048 * MiB });
  const workDir = await makeTempDir(t, 'node-work');
  const poolPath = join(scratch.mountPath, 'pool');
  await mkdir(poolPath);
  onCleanup(t, () => releaseHostState(workDir, poolPath));
  const nodeId = opts.nodeId ?? 'node-a';
  const common = ['--nodeid', nodeId, '--pool', poolPath, '--log-level', 'warn'];
  const nodeArgs = [
    ...common,
    '--kubelet-dir',
    opts.kubeletDir ?? workDir,
    ...(opts.maxVolumesPerNode !== undefined ? ['--max-volumes-per-node', String(opts.maxVolumesPerNode)] : []),
  ];
  const start = (role: 'controller' | 'node', args: string[], env?: Record<string, string>) =>
    startQuarry(t, { role, dir: workDir, socketName: `${role}.sock`, args, ...(env ? { env } : {}) });
  const controller = await start('controller', common);
  const node = await start('node', nodeArgs, opts.nodeEnv);
  const cluster: Cluster = {
    nodeId,
    poolPath,
    scratch,
    workDir,
    controller,
    node,
    ctl: controller.clients,
    nodeClients: node.clients,
    async restartNode(env?: Record<string, string>) {
      await cluster.node.kill();
      // Same socket: the killed process leaves its socket file, so startQuarry waits for Probe.
      cluster.node = await start('node', nodeArgs, env);
      cluster.nodeClients = cluster.node.clients;
    },
    imagePath: (id) => join(poolPath, 'volumes', `${id}.img`),
    recordOf: async (id) => JSON.parse(await readFile(join(poolPath, 'volumes', `${id}.json`), 'utf8')) as VolumeRecord,
  };
  return cluster;
}

/** Unmounts what this test left under its work dir and detaches loops over its pool's images. */
async function releaseHostState(workDir: string, poolPath: string): Promise<void> {
  const mounts = (await mountsUnder(workDir)).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
  for (const m of mounts) await unmount(m.mountPoint);
  const images = await readdir(join(poolPath, 'volumes')).catch(() => [] as string[]);
  for (const name of images.filter((n) => n.endsWith('.img'))) {
    for (const l of await findLoopsByBackingFile(join(poolPath, 'volumes', name))) await detachLoop(l.device);
  }
}

/** Asserts that nothing this test made is still mounted under its work dir or attached over its pool. */
export async function assertNoHostState(c: Cluster): Promise<void> {
  assert.deepEqual(
    (await mountsUnder(c.workDir)).map((m) => m.mountPoint),
    [],
    'mounts left under the work dir',
  );
  const images = (await readdir(join(c.poolPath, 'volumes'))).filter((n) => n.endsWith('.img'));
  for (const name of images) {
    const loops = await findLoopsByBackingFile(join(c.poolPath, 'volumes', name));
    assert.deepEqual(
      loops.map((l) => l.device),
      [],
      `loop devices left over ${name}`,
    );
  }
}

export type VolumeKind = FsType | 'block';

export function capability(kind: VolumeKind, mode = 'SINGLE_NODE_WRITER', mountFlags: string[] = []) {
  return kind === 'block'
    ? { block: {}, access_mode: { mode } }
    : { mount: { fs_type: kind, mount_flags: mountFlags }, access_mode: { mode } };
}

export async function createVolume(c: Cluster, name: string, kind: VolumeKind, sizeBytes = 320 * MiB): Promise<string> {
  const res = await call(c.ctl.controller, 'CreateVolume', {
    name,
    capacity_range: { required_bytes: sizeBytes },
    volume_capabilities: [capability(kind)],
    parameters: kind === 'block' ? {} : { 'csi.storage.k8s.io/fstype': kind },
  } as never);
  return (res as { volume: { volume_id: string } }).volume.volume_id;
}

export async function deleteVolume(c: Cluster, volumeId: string): Promise<void> {
  await call(c.ctl.controller, 'DeleteVolume', { volume_id: volumeId } as never);
}

export function stage(
  c: Cluster,
  volumeId: string,
  stagingPath: string,
  kind: VolumeKind,
  opts: { mode?: string; mountFlags?: string[] } = {},
) {
  return call(c.nodeClients.node, 'NodeStageVolume', {
    volume_id: volumeId,
    staging_target_path: stagingPath,
    volume_capability: capability(kind, opts.mode, opts.mountFlags),
  } as never);
}

export function publish(
  c: Cluster,
  volumeId: string,
  stagingPath: string,
  targetPath: string,
  kind: VolumeKind,
  opts: { mode?: string; mountFlags?: string[]; readonly?: boolean } = {},
) {
  return call(c.nodeClients.node, 'NodePublishVolume', {
    volume_id: volumeId,
    staging_target_path: stagingPath,
    target_path: targetPath,
    volume_capability: capability(kind, opts.mode, opts.mountFlags),
    readonly: opts.readonly ?? false,
  } as never);
}

export function unpublish(c: Cluster, volumeId: string, targetPath: string) {
  return call(c.nodeClients.node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: targetPath } as never);
}

export function unstage(c: Cluster, volumeId: string, stagingPath: string) {
  return call(c.nodeClients.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: stagingPath } as never);
}

/** Staging and target paths for one volume inside the test's work dir (the target's parent is made, as kubelet does). */
export async function volumePaths(c: Cluster, label: string): Promise<{ staging: string; target: string }> {
  const staging = join(c.workDir, 'staging', label);
  const target = join(c.workDir, 'pods', label, 'mount');
  await mkdir(staging, { recursive: true });
  await mkdir(join(c.workDir, 'pods', label), { recursive: true });
  return { staging, target };
}

/** Create, stage and publish: the path a pod's volume takes. */
export async function provision(c: Cluster, name: string, kind: VolumeKind, sizeBytes?: number) {
  const volumeId = await createVolume(c, name, kind, sizeBytes);
  const paths = await volumePaths(c, name);
  await stage(c, volumeId, paths.staging, kind);
  await publish(c, volumeId, paths.staging, paths.target, kind);
  return { volumeId, ...paths };
}

/** Unpublish, unstage and delete: the way back. */
export async function teardown(c: Cluster, v: { volumeId: string; staging: string; target: string }) {
  await unpublish(c, v.volumeId, v.target);
  await unstage(c, v.volumeId, v.staging);
  await deleteVolume(c, v.volumeId);
}
