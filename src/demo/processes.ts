import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A quarry service started by the demo as its own process, as a cluster would run it. */
export interface ServiceProcess {
  role: string;
  socket: string;
  log: () => string;
  stop(): Promise<void>;
}

export async function startService(role: 'controller' | 'node', runDir: string, args: string[]): Promise<ServiceProcess> {
  const socket = join(runDir, `${role}.sock`);
  const child: ChildProcess = spawn(process.execPath, [process.argv[1]!, role, '--endpoint', `unix://${socket}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  for (let i = 0; i < 200 && !existsSync(socket) && child.exitCode === null; i++) await sleep(50);
  if (!existsSync(socket)) {
    await stop();
    throw new Error(`quarry ${role} did not start:\n${log}`);
  }
  return { role, socket, log: () => log, stop };
}
