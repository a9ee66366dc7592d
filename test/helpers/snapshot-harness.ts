// Test helper: real `quarry` processes on unix sockets, and the CSI calls that stage and publish a volume through them.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call, csiClients, type CsiClients } from './grpc-client.js';
import { onCleanup, type HasAfter } from './scratch.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface QuarryProcess {
  endpoint: string;
  clients: CsiClients;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves when stderr contains `text`. */
  waitForStderr(text: string, timeoutMs?: number): Promise<void>;
  /** SIGKILL (after SIGCONT, in case a fault point stopped it) and wait for exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  role: 'all' | 'controller' | 'node';
  dir: string;
  pool: string;
  nodeId?: string;
  shared?: boolean;
  env?: Record<string, string>;
  label?: string;
}

/** Starts `quarry <role>` on a socket in `dir` and waits until it answers Probe. Killed after the test. */
export async function startQuarry(t: HasAfter, opts: StartOptions): Promise<QuarryProcess> {
  const sock = join(opts.dir, `${opts.label ?? opts.role}.sock`);
  await mkdir(opts.pool, { recursive: true });
  const args = [MAIN, opts.role, '--endpoint', `unix://${sock}`, '--nodeid', opts.nodeId ?? 'node-1', '--pool', opts.pool, '--log-level', 'warn'];
  if (opts.shared) args.push('--shared');
  const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let clients: CsiClients | undefined;
  const kill = async () => {
    clients?.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
  };
  onCleanup(t, kill);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`quarry ${opts.role} exited early: ${err}`);
    const ready = await access(sock).then(() => true, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`quarry ${opts.role} did not open ${sock}: ${err}`);
    await sleep(50);
  }
  clients = csiClients(`unix://${sock}`);
  // The socket file appears at bind(), a moment before listen(): retry until Probe answers.
  for (;;) {
    try {
      await call(clients.identity, 'Probe', {}, { timeoutMs: 2_000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`quarry ${opts.role} does not answer Probe: ${(e as Error).message}; ${err}`);
      await sleep(50);
    }
  }
  return {
    endpoint: `unix://${sock}`,
    clients,
    child,
    stderr: () => err,
    async waitForStderr(text, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (!err.includes(text)) {
        if (Date.now() > end) throw new Error(`timed out waiting for "${text}" on stderr: ${err}`);
        await sleep(20);
      }
    },
    kill,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  await call(node.node, 'NodeStageVolume', { volume_id: volumeId, staging_target_path: stagingPath, volume_capability, publish_context }, { timeoutMs: 60_000 });
  await call(node.node, 'NodePublishVolume', { volume_id: volumeId, staging_target_path: stagingPath, target_path: targetPath, volume_capability, readonly: false });
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

/** CapEff bit 24: the kernel lets ext4 grow online only with CAP_SYS_RESOURCE. */
export async function hasCapSysResource(): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  const line = (await readFile('/proc/self/status', 'utf8')).split('\n').find((l) => l.startsWith('CapEff:'));
  return line ? (BigInt(`0x${line.split(/\s+/)[1]}`) & (1n << 24n)) !== 0n : false;
}
