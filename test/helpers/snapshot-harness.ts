// Test helper: real `quarry` processes over one pool, and the CSI calls that stage and publish a volume through them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { call, type CsiClients } from './grpc-client.js';
import { startQuarry, type QuarryProcess } from './quarry-process.js';
import { GiB } from '../../src/domain/bytes.js';
import { thaw } from '../../src/host/fsfreeze.js';
import type { VolumeRecord } from '../../src/storage/records.js';
import { makeScratchFs, onCleanup, type HasAfter } from './scratch.js';

export interface PoolStartOptions {
  role: 'all' | 'controller' | 'node';
  dir: string;
  pool: string;
  nodeId?: string;
  shared?: boolean;
  env?: Record<string, string>;
  /** Socket name `<label>.sock`, to tell a crashed process from its successor. */
  label?: string;
}

/** startQuarry with `--nodeid --pool [--shared]` built from `opts`; makes the pool directory first. */
export async function startQuarryOnPool(t: HasAfter, opts: PoolStartOptions): Promise<QuarryProcess> {
  await mkdir(opts.pool, { recursive: true });
  const args = ['--nodeid', opts.nodeId ?? 'node-1', '--pool', opts.pool, '--log-level', 'warn', ...(opts.shared ? ['--shared'] : [])];
  return startQuarry(t, { role: opts.role, dir: opts.dir, args, env: opts.env, socketName: opts.label ? `${opts.label}.sock` : undefined });
}

export function mountCapability(fsType = '') {
  return { mount: { fs_type: fsType, mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
}

export interface Published {
  stagingPath: string;
  targetPath: string;
  /** NodeUnpublish + NodeUnstage. */
  release(): Promise<void>;
}

/**
 * NodeStage + NodePublish of a filesystem volume under `dir`; released after the
 * test if the test did not. In shared mode pass `controller` to attach first.
 */
export async function stageAndPublish(
  t: HasAfter,
  node: CsiClients,
  volumeId: string,
  dir: string,
  opts: { controller?: CsiClients; nodeId?: string } = {},
): Promise<Published> {
  const stagingPath = join(dir, `staging-${volumeId}`);
  const targetPath = join(dir, `target-${volumeId}`);
  const volume_capability = mountCapability();
  let publish_context: Record<string, string> = {};
  if (opts.controller) {
    const res = await call(opts.controller.controller, 'ControllerPublishVolume', {
      volume_id: volumeId,
      node_id: opts.nodeId ?? 'node-1',
      volume_capability,
      readonly: false,
    });
    publish_context = (res.publish_context ?? {}) as Record<string, string>;
  }
  await call(
    node.node,
    'NodeStageVolume',
    { volume_id: volumeId, staging_target_path: stagingPath, volume_capability, publish_context },
    { timeoutMs: 60_000 },
  );
  await call(node.node, 'NodePublishVolume', {
    volume_id: volumeId,
    staging_target_path: stagingPath,
    target_path: targetPath,
    volume_capability,
    readonly: false,
  });
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await call(node.node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: targetPath });
    await call(node.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: stagingPath }, { timeoutMs: 60_000 });
    if (opts.controller) {
      await call(opts.controller.controller, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: opts.nodeId ?? 'node-1' });
    }
  };
  onCleanup(t, release);
  return { stagingPath, targetPath, release };
}

/** One block written with fsync by a pod-like writer (dd); a frozen filesystem would hold it (hang guard, not a timing). */
export async function assertWritable(path: string): Promise<void> {
  const child = spawn('dd', ['if=/dev/zero', `of=${path}`, 'bs=4096', 'count=1', 'conv=fsync'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${path}: write still blocked after 90 s (frozen?)`)), 90_000);
  });
  try {
    assert.equal(await Promise.race([exited, guard]), 0, 'the write completed');
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
}

/** Names in the pool's record directories that are not a record or an image: temporary files, partial images. */
export async function poolLeftovers(pool: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ['volumes', 'snapshots']) {
    for (const name of await readdir(join(pool, dir))) if (!/^[a-z0-9-]+\.(json|img)$/.test(name)) out.push(`${dir}/${name}`);
  }
  return out;
}

/**
 * The freezer processes (xfs_io, design: Freeze) still running on the filesystem at `mountPath`:
 * started on it, or a spare told to open it (then only its open file shows the path).
 */
export async function freezersOn(mountPath: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').then(
      (c) => c.split('\0').filter(Boolean),
      (): string[] => [],
    );
    if (!argv[0]?.endsWith('xfs_io')) continue;
    if (argv.includes(mountPath) || (await opensPath(Number(pid), mountPath))) found.push(`${pid}: ${argv.join(' ')}`);
  }
  return found;
}

/** Whether process `pid` has `path` open (one of its fds links to it). */
export async function opensPath(pid: number, path: string): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch((): string[] => []);
  return (await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))).includes(path);
}

/**
 * A real node and controller on a fresh 2 GiB xfs-reflink pool, and one xfs volume of
 * `size(available capacity)` bytes staged and published on that node: a volume in use.
 */

export async function startInUseVolume(t: HasAfter, opts: { size: (available: number) => number; controllerEnv?: Record<string, string> }) {
  const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 2 * GiB, reflink: true });
  const pool = join(fs.mountPath, 'pool');
  const node = await startQuarryOnPool(t, { role: 'node', dir: fs.dir, pool, label: 'node' });
  const ctl = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool, label: 'ctl', env: opts.controllerEnv });
  const available = Number((await call(ctl.clients.controller, 'GetCapacity', {})).available_capacity);
  const vol = (
    await call(ctl.clients.controller, 'CreateVolume', {
      name: 'v',
      capacity_range: { required_bytes: opts.size(available) },
      volume_capabilities: [mountCapability('xfs')],
    })
  ).volume!;
  const pub = await stageAndPublish(t, node.clients, vol.volume_id!, fs.dir);
  onCleanup(t, () => thaw(pub.stagingPath).catch(() => undefined));
  const readRecord = async (id: string) => JSON.parse(await readFile(join(pool, 'volumes', `${id}.json`), 'utf8')) as VolumeRecord;
  return { fs, pool, ctl, vol, pub, readRecord };
}
