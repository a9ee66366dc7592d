// Chaos helper: a real `quarry controller` and `quarry node` over one pool on a loop-mounted scratch
// filesystem, restartable after a kill -9, with the staging and target paths of a test under one
// work directory. Everything is released after the test, also when it failed.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../../src/domain/bytes.js';
import { detachLoop, listLoops } from '../../../src/host/losetup.js';
import { unmount } from '../../../src/host/mount.js';
import { mountsUnder } from '../../../src/host/mountinfo.js';
import type { CsiClients } from '../../helpers/grpc-client.js';
import { runQuarry, startQuarry, type QuarryProcess } from '../../helpers/quarry-process.js';
import { makeScratchFs, makeTempDir, onCleanup, type HasAfter, type ScratchFs, type ScratchFsOptions } from '../../helpers/scratch.js';
import { thawQuietly } from './host-probes.js';

export type Role = 'controller' | 'node';

export interface ChaosProcessOptions {
  role: Role;
  /** Socket directory; also the root every staging and target path of the test lives under. */
  workDir: string;
  pool: string;
  nodeId: string;
  extraArgs?: string[];
}

let kubeletDirFlag: Promise<boolean> | undefined;

/** Whether this build has the node's --kubelet-dir flag (paths outside it are refused once it exists). */
function hasKubeletDirFlag(): Promise<boolean> {
  kubeletDirFlag ??= runQuarry(['--help']).then((r) => /^\s+--kubelet-dir\b/m.test(r.stdout + r.stderr));
  return kubeletDirFlag;
}

/**
 * The one place chaos tests start quarry processes, so a new flag reaches every one of them.
 * The work dir is the node's kubelet directory: every staging and target path is below it.
 */
export async function startChaosProcess(t: HasAfter, o: ChaosProcessOptions): Promise<QuarryProcess> {
  const args = ['--nodeid', o.nodeId, '--pool', o.pool, '--log-level', 'warn', ...(o.extraArgs ?? [])];
  if (o.role === 'node' && (await hasKubeletDirFlag())) args.push('--kubelet-dir', o.workDir);
  return startQuarry(t, { role: o.role, dir: o.workDir, socketName: `${o.role}.sock`, args, startTimeoutMs: 60_000 });
}

export interface ChaosCluster {
  scratch: ScratchFs;
  poolPath: string;
  workDir: string;
  nodeId: string;
  proc: Record<Role, QuarryProcess>;
  ctl(): CsiClients;
  node(): CsiClients;
  /** SIGKILL, without waiting for anything in flight. */
  kill(role: Role): Promise<void>;
  start(role: Role): Promise<void>;
  restart(role: Role): Promise<void>;
  imagePath(volumeId: string): string;
}

export interface ChaosClusterOptions {
  pool: ScratchFsOptions;
  nodeId?: string;
  extraArgs?: string[];
}

export async function startChaosCluster(t: HasAfter, opts: ChaosClusterOptions): Promise<ChaosCluster> {
  const scratch = await makeScratchFs(t, { sizeBytes: 2048 * MiB, ...opts.pool });
  const workDir = await makeTempDir(t, 'chaos');
  const poolPath = join(scratch.mountPath, 'pool');
  await mkdir(poolPath);
  onCleanup(t, () => releaseHostState(workDir, poolPath));
  const nodeId = opts.nodeId ?? 'chaos-node';
  const proc = {} as Record<Role, QuarryProcess>;
  const c: ChaosCluster = {
    scratch,
    poolPath,
    workDir,
    nodeId,
    proc,
    ctl: () => proc.controller.clients,
    node: () => proc.node.clients,
    async kill(role) {
      await proc[role].kill();
    },
    async start(role) {
      proc[role] = await startChaosProcess(t, { role, workDir, pool: poolPath, nodeId, extraArgs: opts.extraArgs });
    },
    async restart(role) {
      await c.kill(role);
      await c.start(role);
    },
    imagePath: (id) => join(poolPath, 'volumes', `${id}.img`),
  };
  await c.start('controller');
  await c.start('node');
  return c;
}

/**
 * What a test may have left: thaw every filesystem below the work dir (a killed snapshot may have
 * frozen one), unmount them deepest first, detach loops over the pool's files.
 */
export async function releaseHostState(workDir: string, poolPath: string): Promise<void> {
  const mounts = (await mountsUnder(workDir)).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
  for (const m of mounts) if (m.fsType !== 'tmpfs') await thawQuietly(m.mountPoint);
  for (const m of mounts) await unmount(m.mountPoint).catch(() => undefined);
  for (const l of await listLoops()) {
    if (l.backingFile.startsWith(`${poolPath}/`)) await detachLoop(l.device).catch(() => undefined);
  }
}

export const VOLUME_DIR = 'volumes';
export const SNAPSHOT_DIR = 'snapshots';
