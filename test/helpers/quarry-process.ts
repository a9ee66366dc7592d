/**
 * Test helper: runs the real `quarry` binary (dist/src/cli/main.js) as a child process on a
 * temp unix socket, captures its output, waits for its socket or for a fault-point line, and
 * kills it. Every process started here is killed in t.after, even when the test fails.
 *
 *   const q = await startQuarry(t, { role: 'controller', dir, args: ['--nodeid', 'n1', '--pool', p] });
 *   await call(q.clients.controller, 'CreateVolume', {...});
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeScratchFs, onCleanup, type HasAfter, type ScratchFs, type ScratchFsOptions } from './scratch.js';
import { call, csiClients, type CsiClients } from './grpc-client.js';

export const QUARRY_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface StartOptions {
  role: 'controller' | 'node' | 'all';
  /** Directory for the socket (a short path: unix socket paths are limited to 107 bytes). */
  dir: string;
  /** Flags after the role, without --endpoint (added here). */
  args?: string[];
  /** Extra environment, e.g. { QUARRY_FAULT_POINT: 'create-volume:after-record' }. */
  env?: Record<string, string>;
  /** The node binary to run quarry with; default the one running this process (benches compare runtimes). */
  node?: string;
  /** Flags for node before quarry's main module (benches: the image launcher's V8 flags). */
  nodeArgs?: string[];
  /** Socket file name inside dir; default csi-<n>.sock. */
  socketName?: string;
  startTimeoutMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface QuarryProcess {
  pid: number;
  endpoint: string;
  socketPath: string;
  clients: CsiClients;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Resolves when stderr contains `quarry: reached fault point <name>` (the process is then SIGSTOPped). */
  waitForFaultPoint(name: string, timeoutMs?: number): Promise<void>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGKILL (works on a stopped process too) and wait for the exit. */
  kill(): Promise<Exit>;
  /** SIGCONT a process stopped at a fault point. */
  resume(): void;
}

let counter = 0;

/** Starts `quarry <role> --endpoint unix://<dir>/<sock> ...args` and waits for its socket. */
export async function startQuarry(t: HasAfter, opts: StartOptions): Promise<QuarryProcess> {
  const socketPath = join(opts.dir, opts.socketName ?? `csi-${process.pid}-${++counter}.sock`);
  const endpoint = `unix://${socketPath}`;
  const child = spawnQuarry(
    [opts.role, '--endpoint', endpoint, ...withKubeletDir(opts.role, opts.args ?? [])],
    opts.env,
    opts.node,
    opts.nodeArgs,
  );
  const out = captureOutput(child);
  const exited = exitOf(child);
  let clients: CsiClients | undefined;
  const kill = async (): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  onCleanup(t, async () => {
    clients?.close();
    await kill();
  });
  await waitUntil(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`quarry ${opts.role} exited (${child.exitCode ?? child.signalCode}) before serving: ${out.stderr()}`);
      }
      return access(socketPath).then(
        () => true,
        () => false,
      );
    },
    opts.startTimeoutMs ?? 15_000,
    () => `quarry ${opts.role} did not create ${socketPath}; stderr: ${out.stderr()}`,
  );
  clients = csiClients(endpoint);
  const probeClients = clients;
  // The socket file alone is not proof of a server behind it: wait for an answer.
  await waitUntil(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`quarry ${opts.role} exited (${child.exitCode ?? child.signalCode}) after creating its socket: ${out.stderr()}`);
      }
      return call(probeClients.identity, 'Probe', {}, { timeoutMs: 2000 }).then(
        () => true,
        () => false,
      );
    },
    opts.startTimeoutMs ?? 15_000,
    () => `quarry ${opts.role} does not answer Probe on ${socketPath}; stderr: ${out.stderr()}`,
  );
  const waitForOutput = (pattern: RegExp, timeoutMs = 15_000) =>
    waitUntil(
      async () => pattern.test(out.stderr()) || pattern.test(out.stdout()),
      timeoutMs,
      () => `quarry did not print ${pattern}; stderr: ${out.stderr()}`,
    );
  return {
    pid: child.pid!,
    endpoint,
    socketPath,
    clients,
    stdout: out.stdout,
    stderr: out.stderr,
    exited,
    waitForOutput,
    waitForFaultPoint: (name, timeoutMs) => waitForOutput(new RegExp(`quarry: reached fault point ${escapeRegExp(name)}\\n`), timeoutMs),
    kill,
    resume: () => void child.kill('SIGCONT'),
  };
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs quarry to completion (for commands that exit: --help, bad flags, refused pools). */
export async function runQuarry(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const child = spawnQuarry(args, opts.env);
  const out = captureOutput(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  const exit = await exitOf(child);
  clearTimeout(timer);
  return { ...exit, stdout: out.stdout(), stderr: out.stderr() };
}

/**
 * Test staging and target paths live in temp dirs, not under /var/lib/kubelet: a node started
 * without its own --kubelet-dir gets os.tmpdir() (tests that check the boundary pass their own).
 */
function withKubeletDir(role: StartOptions['role'], args: string[]): string[] {
  if (role === 'controller' || args.includes('--kubelet-dir')) return args;
  return [...args, '--kubelet-dir', realpathSync(tmpdir())];
}

function spawnQuarry(
  args: string[],
  env: Record<string, string> | undefined,
  node = process.execPath,
  nodeArgs: string[] = [],
): ChildProcess {
  const e = { ...process.env, ...env };
  if (!env?.QUARRY_FAULT_POINT) delete e.QUARRY_FAULT_POINT;
  return spawn(node, [...nodeArgs, QUARRY_MAIN, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
}

function captureOutput(child: ChildProcess) {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return { stdout: () => stdout, stderr: () => stderr };
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** Polls `check` every `intervalMs` until it is true; throws describe() after timeoutMs. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, describe: () => string, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Asserts that a gRPC call fails with `code` (a grpc status number) and a message matching `message`. */
export async function rejectsWithCode(
  p: Promise<unknown>,
  code: number,
  message?: RegExp,
): Promise<Error & { code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { code: number; details: string };
    if (e.code !== code) throw new Error(`expected gRPC code ${code}, got ${e.code}: ${e.details ?? e.message}`);
    if (message && !message.test(e.details)) throw new Error(`message ${JSON.stringify(e.details)} does not match ${message}`);
    return e;
  }
  throw new Error(`expected gRPC code ${code}, but the call succeeded`);
}

/** An empty pool directory (not yet a pool) on a fresh loop-mounted scratch filesystem. */
export async function scratchPoolDir(t: HasAfter, opts: ScratchFsOptions, name = 'pool'): Promise<{ fs: ScratchFs; path: string }> {
  const fs = await makeScratchFs(t, opts);
  const path = join(fs.mountPath, name);
  await mkdir(path);
  return { fs, path };
}
