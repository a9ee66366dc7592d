/** Ad-hoc: a CPU profile of `quarry controller` over a burst of creates (not part of run-all). */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GiB } from '../src/domain/bytes.js';
import { call, csiClients } from '../src/wire/client.js';
import { benchPool, createRequest } from './lib/quarry.js';
import { QUARRY_MAIN } from '../test/helpers/quarry-process.js';
import { withScope } from './lib/scope.js';

await withScope(async (scope) => {
  const pool = await benchPool(scope, { fsType: 'xfs', reflink: true });
  const sock = join(pool.workDir, 'c.sock');
  const wrap = process.env.STRACE
    ? ['strace', '-f', '-c', '-o', process.env.STRACE, process.execPath]
    : [process.execPath, '--cpu-prof', `--cpu-prof-dir=${process.env.PROF_DIR ?? '/tmp/ledger-prof'}`];
  const child = spawn(
    wrap[0]!,
    [
      ...wrap.slice(1),
      QUARRY_MAIN,
      'controller',
      '--endpoint',
      `unix://${sock}`,
      '--nodeid',
      'bench-node',
      '--pool',
      pool.path,
      '--overprovisioning',
      '10',
      '--log-level',
      'warn',
    ],
    { stdio: 'inherit' },
  );
  const exited = new Promise((r) => child.on('exit', r));
  while (!existsSync(sock)) await new Promise((r) => setTimeout(r, 50));
  const c = csiClients(`unix://${sock}`).controller;
  const n = Number(process.env.N ?? 500);
  const cpu = () => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return `utime ${f[11]} stime ${f[12]}`;
  };
  process.stderr.write(`before: ${cpu()}\n`);
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) => call(c, 'CreateVolume', createRequest(`p-${i}`, GiB, 'xfs'), { timeoutMs: 600_000 })),
  );
  process.stderr.write(`${n} creates: ${Date.now() - t0} ms; after: ${cpu()}\n`);
  const seq = Number(process.env.SEQ ?? 0);
  const times: number[] = [];
  for (let i = 0; i < seq; i++) {
    const t = performance.now();
    await call(c, 'CreateVolume', createRequest(`s-${i}`, GiB, 'xfs'), { timeoutMs: 600_000 });
    times.push(performance.now() - t);
  }
  if (seq) process.stderr.write(`sequential: ${times.map((x) => x.toFixed(1)).join(' ')}; after: ${cpu()}\n`);
  const lists: number[] = [];
  for (let i = 0; i < Number(process.env.LIST ?? 0); i++) {
    const t = performance.now();
    await call(c, 'ListVolumes', {} as never, { timeoutMs: 600_000 });
    lists.push(performance.now() - t);
  }
  if (lists.length) process.stderr.write(`ListVolumes: ${lists.map((x) => x.toFixed(1)).join(' ')}; after: ${cpu()}\n`);
  child.kill('SIGTERM');
  await exited;
  c.close();
});
