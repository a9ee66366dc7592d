/** Ad-hoc: a CPU profile of `quarry controller` over a burst of creates (not part of run-all). */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GiB } from '../src/domain/bytes.js';
import { call, csiClients } from '../src/wire/client.js';
import { benchPool, createRequest, imageEnv, imageNodeArgs } from './lib/quarry.js';
import { QUARRY_MAIN } from '../test/helpers/quarry-process.js';
import { withScope } from './lib/scope.js';

await withScope(async (scope) => {
  const pool = await benchPool(scope, { fsType: 'xfs', reflink: true });
  const sock = join(pool.workDir, 'c.sock');
  // The image's environment and launcher flags; NOPROF: no profiler (CPU per burst only); CHILD_ARGS:
  // more node flags (e.g. --trace-gc); CHILD_NODE_OPTIONS: the child's NODE_OPTIONS instead of the image's.
  const extra = process.env.CHILD_ARGS ? process.env.CHILD_ARGS.split(' ') : [];
  const wrap = process.env.NOPROF
    ? [process.execPath, ...imageNodeArgs(), ...extra]
    : process.env.STRACE
      ? ['strace', '-f', '-c', '-o', process.env.STRACE, process.execPath]
      : [
          process.execPath,
          '--cpu-prof',
          `--cpu-prof-interval=${process.env.PROF_INTERVAL ?? 1000}`,
          `--cpu-prof-dir=${process.env.PROF_DIR ?? '/tmp/ledger-prof'}`,
        ];
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
    {
      stdio: 'inherit',
      env: { ...process.env, ...imageEnv(), ...(process.env.CHILD_NODE_OPTIONS ? { NODE_OPTIONS: process.env.CHILD_NODE_OPTIONS } : {}) },
    },
  );
  let gone = false;
  const exited = new Promise((r) => child.on('exit', r)).then(() => (gone = true));
  while (!existsSync(sock)) {
    if (gone) throw new Error('the controller exited before it listened');
    await new Promise((r) => setTimeout(r, 50));
  }
  const c = csiClients(`unix://${sock}`).controller;
  const n = Number(process.env.N ?? 500);
  const cpu = () => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return `utime ${f[11]} stime ${f[12]}`;
  };
  // CPU ticks, user and system, of the main thread (its tid is the pid) and of the others by their
  // kernel name (libuv-worker: libuv's pool; V8 DefaultWorke: V8's helpers, GC and compilers).
  const threadTicks = () => {
    const by = new Map<string, number>();
    // Node 20 names no thread: BY_TID splits them by creation order instead (V8's helpers start before libuv's pool).
    const tids = readdirSync(`/proc/${child.pid}/task`).sort((a, b) => Number(a) - Number(b));
    for (const [i, tid] of tids.entries()) {
      const stat = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const name = tid === String(child.pid) ? 'main' : process.env.BY_TID ? `#${i} ${comm}` : comm;
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      by.set(`${name} user`, (by.get(`${name} user`) ?? 0) + Number(f[11]));
      by.set(`${name} system`, (by.get(`${name} system`) ?? 0) + Number(f[12]));
    }
    return by;
  };
  const ticks = () => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  // WARM sequential creates first, then each burst of BURSTS (comma-separated; default N).
  for (let i = 0; i < Number(process.env.WARM ?? 0); i++) {
    await call(c, 'CreateVolume', createRequest(`w-${i}`, GiB, 'xfs'), { timeoutMs: 600_000 });
  }
  let last: string[] = [];
  for (const [k, b] of (process.env.BURSTS ?? String(n)).split(',').map(Number).entries()) {
    // DELETE_BETWEEN: the previous burst's volumes deleted first, as the bench's rounds do.
    if (process.env.DELETE_BETWEEN && last.length > 0) {
      await Promise.all(last.map((id) => call(c, 'DeleteVolume', { volume_id: id } as never, { timeoutMs: 600_000 })));
    }
    const ids: string[] = [];
    // SIGNAL_BURSTS: SIGUSR2 to the controller before and after each burst, for lib/heap-sampler.js
    // preloaded there (NOPROF=1 CHILD_ARGS=--import=<dist>/bench/lib/heap-sampler.js).
    if (process.env.SIGNAL_BURSTS) child.kill('SIGUSR2');
    const c0 = ticks();
    const t0s = threadTicks();
    process.stderr.write(`before: ${cpu()} mono_us ${process.hrtime.bigint() / 1000n}\n`);
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: b }, async (_, i) => {
        const res = await call(c, 'CreateVolume', createRequest(`p${k}-${i}`, GiB, 'xfs'), { timeoutMs: 600_000 });
        ids.push((res as { volume: { volume_id: string } }).volume.volume_id);
      }),
    );
    last = ids;
    const perCreate = ((ticks() - c0) * 10) / b;
    if (process.env.SIGNAL_BURSTS) child.kill('SIGUSR2');
    process.stderr.write(
      `${b} creates: ${Date.now() - t0} ms; cpu/create ${perCreate} ms; after: ${cpu()} mono_us ${process.hrtime.bigint() / 1000n}\n`,
    );
    const perThread = [...threadTicks()].map(([name, t]) => `${name} ${(((t - (t0s.get(name) ?? 0)) * 10) / b).toFixed(2)}`);
    process.stderr.write(`  cpu/create by thread (ms): ${perThread.join(', ')}\n`);
  }
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
