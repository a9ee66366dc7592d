/**
 * The bare grpc-js server (bench/lib/bare-grpc-server.ts) as its own process, with the image's
 * environment and node flags, killed by the scope; returns once it answers Probe. The create and memory benches'
 * baseline.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call, csiClients, type CsiClients } from '../../src/wire/client.js';
import { onCleanup, type HasAfter } from '../../test/helpers/scratch.js';
import { imageEnv, imageNodeArgs } from './quarry.js';

export interface BareServer {
  pid: number;
  clients: CsiClients;
}

/**
 * Starts the server on `<dir>/<name>.sock` under `node` (default: this Node); with `createDir` it
 * serves CreateVolume into that directory too.
 */
export async function startBareServer(
  scope: HasAfter,
  dir: string,
  name: string,
  opts: { createDir?: string; node?: string } = {},
): Promise<BareServer> {
  const socketPath = join(dir, `${name}.sock`);
  const script = fileURLToPath(new URL('./bare-grpc-server.js', import.meta.url));
  const child = spawn(
    opts.node ?? process.execPath,
    [...imageNodeArgs(), script, socketPath, ...(opts.createDir ? [opts.createDir] : [])],
    {
      env: { ...process.env, ...imageEnv() },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise((r) => child.once('exit', r));
  onCleanup(scope, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const clients = csiClients(socketPath);
  onCleanup(scope, () => clients.close());
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await access(socketPath).then(
      () => call(clients.identity, 'Probe', {}, { timeoutMs: 1_000 }).then(() => true),
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the bare grpc-js server did not answer Probe');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { pid: child.pid!, clients };
}
