/**
 * Ad-hoc (not part of run-all): a CPU profile of the bare grpc-js server (bench/lib/bare-grpc-server.ts)
 * answering a burst of CreateVolume with only the bare file work, on an XFS reflink scratch pool: where
 * the floor's own CPU goes (design: Performance targets).
 *
 *   N=1000 PROF_DIR=/tmp/bare-prof node dist/bench/lib/profile-bare-create.js
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GiB } from '../../src/domain/bytes.js';
import { call, csiClients } from '../../src/wire/client.js';
import { benchPool, createRequest, imageEnv } from './quarry.js';
import { withScope } from './scope.js';

await withScope(async (scope) => {
  const pool = await benchPool(scope, { fsType: 'xfs', reflink: true });
  const dir = join(pool.fs.mountPath, 'bare-grpc');
  await mkdir(dir);
  const sock = join(pool.workDir, 'bare.sock');
  const script = fileURLToPath(new URL('./bare-grpc-server.js', import.meta.url));
  const profDir = process.env.PROF_DIR ?? '/tmp/bare-prof';
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, script, sock, dir], {
    env: { ...process.env, ...imageEnv() },
    stdio: 'inherit',
  });
  const exited = new Promise((r) => child.once('exit', r));
  while (!existsSync(sock)) await new Promise((r) => setTimeout(r, 50));
  const clients = csiClients(sock);
  const c = clients.controller;
  const n = Number(process.env.N ?? 1000);
  const ticks = () => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  await call(c, 'CreateVolume', createRequest('warm', GiB, 'xfs'), { timeoutMs: 600_000 });
  const t0 = ticks();
  const w0 = Date.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) => call(c, 'CreateVolume', createRequest(`p-${i}`, GiB, 'xfs'), { timeoutMs: 600_000 })),
  );
  process.stderr.write(`${n} creates on the bare server: ${Date.now() - w0} ms wall, ${((ticks() - t0) * 10) / n} ms CPU each\n`);
  clients.close();
  child.kill('SIGTERM'); // the server shuts down and exits, so --cpu-prof writes its profile
  await exited;
});
