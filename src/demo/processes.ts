import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a service may take to shut down gracefully before the demo kills it. */
const STOP_GRACE_MS = 15_000;

/** A quarry service started by the demo as its own process, as a cluster would run it. */
export interface ServiceProcess {
  role: string;
  socket: string;
  log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts `node <entry> <role> --endpoint unix://<runDir>/<role>.sock ...args`. `entry` is this
 * CLI's own script unless a test passes a stand-in.
 */
export async function startService(
  role: 'controller' | 'node',
  runDir: string,
  args: string[],
  entry: string = process.argv[1]!,
): Promise<ServiceProcess> {
  const socket = join(runDir, `${role}.sock`);
  const child: ChildProcess = spawn(process.execPath, [entry, role, '--endpoint', `unix://${socket}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    // The grace timer is cancelled as soon as the child exits: a live timer would hold the
    // demo's event loop open for the whole grace period after it has finished.
    const grace = new AbortController();
    await Promise.race([exited, sleep(STOP_GRACE_MS, undefined, { signal: grace.signal }).catch(() => undefined)]);
    grace.abort();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  for (let i = 0; i < 200 && !existsSync(socket) && child.exitCode === null; i++) await sleep(50);
  if (!existsSync(socket)) {
    await stop();
    throw new Error(`quarry ${role} did not start:\n${log}`);
  }
  return { role, socket, log: () => log, stop };
}
