/**
 * The process goals (design: Performance): RSS of a real `quarry controller` and `quarry node`
 * idle and after 10,000 mixed RPCs, Probe CPU per call and Probe throughput, each next to a
 * baseline measured in the same run: a bare grpc-js server (proto-loader on proto/csi.proto, one
 * Probe handler, nothing else; bench/lib/bare-grpc-server.ts) under the same node flags. The
 * figure for `quarry all` is reported too.
 *
 * RSS is VmRSS from /proc/<pid>/status; CPU is utime+stime from /proc/<pid>/stat of the server
 * process over the calls. MiB throughout.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GiB } from '../src/domain/bytes.js';
import { call, type CsiClients } from '../src/wire/client.js';
import { startQuarry, type QuarryProcess } from '../test/helpers/quarry-process.js';
import type { HasAfter } from '../test/helpers/scratch.js';
import { benchPool, createRequest, imageEnv, imageNodeArgs, mountCapability, type BenchPool } from './lib/quarry.js';
import { startBareServer } from './lib/bare-server-process.js';
import { goalTable, table, type Section } from './lib/report.js';
import { withScope } from './lib/scope.js';

const MIXED = 10_000;
const PROBES = 10_000;
const WARMUP = 1_000;
/** Calls kept in flight at once, as a kubelet and the sidecars would. */
const IN_FLIGHT = 8;
/** Time left to a process after its first answer before "idle" is read. */
const SETTLE_MS = 2_000;
/** Quiet time after the mixed RPCs before RSS is read again (V8's memory reducer runs within it). */
const SETTLE_AFTER_BUSY_MS = 10_000;
const IDLE_GOAL_MIB = 64;
const BUSY_GOAL_MIB = 75;
const PROBE_CPU_GOAL_US = 60;

interface Rss {
  total: number;
  anon: number;
  file: number;
}

/** VmRSS and its anonymous (heap, private) and file-backed (the node binary's pages) parts, in MiB. */
async function rssMiB(pid: number): Promise<Rss> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const kb = Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]);
    if (!Number.isFinite(kb)) throw new Error(`no ${name} in /proc/${pid}/status`);
    return kb / 1024;
  };
  return { total: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

/** utime+stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5), after pid and comm
}
const TICK_US = 10_000;

/** Runs `count` calls of `rpc(i)`, IN_FLIGHT at a time. */
async function drive(count: number, rpc: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i += IN_FLIGHT) {
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count - i) }, (_, k) => rpc(i + k)));
  }
}

interface ProbeFigures {
  cpuUsPerCall: number;
  callsPerSecond: number;
}

/** CPU and rate of `PROBES` calls of `rpc` (after `WARMUP` of them). */
async function callFigures(pid: number, rpc: () => Promise<unknown>): Promise<ProbeFigures> {
  const probe = rpc;
  await drive(WARMUP, probe);
  const cpu0 = await cpuTicks(pid);
  const t0 = process.hrtime.bigint();
  await drive(PROBES, probe);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = await cpuTicks(pid);
  return { cpuUsPerCall: ((cpu1 - cpu0) * TICK_US) / PROBES, callsPerSecond: PROBES / seconds };
}

interface ProcessFigures {
  idle: Rss;
  /** Right after the last of the mixed RPCs. */
  busy: Rss;
  /** SETTLE_AFTER_BUSY_MS later, with no call in between: what V8's memory reducer gives back (goal runtime only). */
  settled?: Rss;
  probe: ProbeFigures;
  /**
   * GetPluginInfo, whose handler returns constants: the per-call wrapper without Probe's pool
   * check (quarry processes only; the bare server offers Probe alone).
   */
  info?: ProbeFigures;
}

async function settledRss(pid: number): Promise<Rss> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return rssMiB(pid);
}

/** `mixed` RPCs and RSS, then the Probe figures (and GetPluginInfo's with `info`); `idle` was read before any work. */
async function measure(
  pid: number,
  clients: CsiClients,
  idle: Rss,
  mixed: (i: number) => Promise<unknown>,
  opts: { info?: boolean; settle?: boolean } = {},
): Promise<ProcessFigures> {
  const t0 = Date.now();
  await drive(MIXED, mixed);
  const busy = await rssMiB(pid);
  let settled: Rss | undefined;
  if (opts.settle !== false) {
    await new Promise((r) => setTimeout(r, SETTLE_AFTER_BUSY_MS));
    settled = await rssMiB(pid);
  }
  const probe = await callFigures(pid, () => call(clients.identity, 'Probe', {}));
  const infoFigures = opts.info ? await callFigures(pid, () => call(clients.identity, 'GetPluginInfo', {})) : undefined;
  process.stderr.write(
    `process: pid ${pid}: idle ${idle.total.toFixed(1)} MiB, ${MIXED} RPCs in ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
      `then ${busy.total.toFixed(1)} MiB; Probe ${probe.cpuUsPerCall.toFixed(1)} µs CPU, ${probe.callsPerSecond.toFixed(0)}/s\n`,
  );
  return { idle, busy, probe, ...(settled ? { settled } : {}), ...(infoFigures ? { info: infoFigures } : {}) };
}

let started = 0;

/** `quarry <role>` on the pool under `node`, as bench/lib/quarry.ts startOnPool runs it (image env, warn logging). */
function startRole(scope: HasAfter, role: 'controller' | 'node', pool: BenchPool, node: string): Promise<QuarryProcess> {
  return startQuarry(scope, {
    role,
    dir: pool.workDir,
    socketName: `${role}-${++started}.sock`,
    args: ['--nodeid', 'bench-node', '--pool', pool.path, '--overprovisioning', '10', '--log-level', 'warn'],
    env: imageEnv(),
    nodeArgs: imageNodeArgs(),
    node,
  });
}

interface RuntimeFigures {
  bare: ProcessFigures;
  controller: ProcessFigures;
  node: ProcessFigures;
}

/**
 * The bare server, then a controller and a node plugin, all under the node binary `node`, on
 * `pool`. `settle`: also read RSS SETTLE_AFTER_BUSY_MS after the mix (the goal runtime only,
 * which keeps the section within its time).
 */
export async function runtimeFigures(
  scope: HasAfter,
  pool: BenchPool,
  node: string,
  tag: string,
  settle: boolean,
): Promise<RuntimeFigures> {
  const bareProcess = await startBareServer(scope, pool.workDir, `bare-${++started}`, { node });
  const bare = await measure(
    bareProcess.pid,
    bareProcess.clients,
    await settledRss(bareProcess.pid),
    () => call(bareProcess.clients.identity, 'Probe', {}),
    { settle },
  );

  const ctl = await startRole(scope, 'controller', pool, node);
  const nodePlugin = await startRole(scope, 'node', pool, node);
  // Idle: started, Probe answered, nothing else asked yet.
  const ctlIdle = await settledRss(ctl.pid);
  const nodeIdle = await rssMiB(nodePlugin.pid);
  const res = await call(ctl.clients.controller, 'CreateVolume', createRequest(`bench-mem-${tag}`, 1 * GiB, 'xfs'));
  const volumeId = (res as { volume: { volume_id: string } }).volume.volume_id;
  const staging = join(pool.workDir, 'staging', `mem-${tag}`);
  await mkdir(staging, { recursive: true });
  await call(
    nodePlugin.clients.node,
    'NodeStageVolume',
    { volume_id: volumeId, staging_target_path: staging, volume_capability: mountCapability('xfs') } as never,
    { timeoutMs: 60_000 },
  );

  // The controller's mix: what the sidecars ask all day, and a create+delete pair every 100 calls.
  const c = ctl.clients;
  const caps = [mountCapability('xfs')];
  const controllerRpc = async (i: number): Promise<unknown> => {
    if (i % 100 === 0) {
      const made = await call(c.controller, 'CreateVolume', createRequest(`bench-mem-${tag}-${i}`, 512 * 1024 * 1024, 'xfs'));
      return call(c.controller, 'DeleteVolume', { volume_id: (made as { volume: { volume_id: string } }).volume.volume_id } as never);
    }
    switch (i % 6) {
      case 0:
        return call(c.identity, 'Probe', {});
      case 1:
        return call(c.identity, 'GetPluginInfo', {});
      case 2:
        return call(c.controller, 'ControllerGetCapabilities', {});
      case 3:
        return call(c.controller, 'GetCapacity', { volume_capabilities: caps } as never);
      case 4:
        return call(c.controller, 'ListVolumes', {});
      default:
        return call(c.controller, 'ValidateVolumeCapabilities', { volume_id: volumeId, volume_capabilities: caps } as never);
    }
  };
  // The node's mix: the kubelet's capability and info calls and stats of a staged volume.
  const n = nodePlugin.clients;
  const nodeRpc = (i: number): Promise<unknown> =>
    i % 4 === 0
      ? call(n.identity, 'Probe', {})
      : i % 4 === 1
        ? call(n.node, 'NodeGetCapabilities', {})
        : i % 4 === 2
          ? call(n.node, 'NodeGetInfo', {})
          : call(n.node, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: staging } as never);
  const controller = await measure(ctl.pid, ctl.clients, ctlIdle, controllerRpc, { info: true, settle });
  const nodeFigures = await measure(nodePlugin.pid, nodePlugin.clients, nodeIdle, nodeRpc, { info: true, settle });

  await call(n.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging } as never, { timeoutMs: 60_000 });
  await call(c.controller, 'DeleteVolume', { volume_id: volumeId } as never);
  // This runtime's processes go now: the next runtime's are measured on a machine without them.
  await Promise.all([ctl.kill(), nodePlugin.kill()]);
  return { bare, controller, node: nodeFigures };
}

/** The image's runtime (Node 24) when this machine has it: QUARRY_BENCH_NODE24, else the CI's cached copy. */
async function imageRuntime(): Promise<{ path: string; version: string } | undefined> {
  const candidates = [process.env.QUARRY_BENCH_NODE24, join(homedir(), '.cache/quarry-tools/node-24.22.3/bin/node')];
  for (const path of candidates) {
    if (!path) continue;
    try {
      await access(path, constants.X_OK);
    } catch {
      continue;
    }
    const version = await new Promise<string>((resolve, reject) =>
      execFile(path, ['--version'], { timeout: 10_000 }, (err, out) => (err ? reject(err) : resolve(out.trim()))),
    );
    if (version === process.version) return undefined; // already the runtime of the goal table
    return { path, version };
  }
  return undefined;
}

export async function memoryBench(): Promise<Section> {
  const fig: { main?: RuntimeFigures; image?: RuntimeFigures & { version: string }; all?: Rss } = {};
  await withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType: 'xfs', sizeBytes: 16 * GiB });
    fig.main = await runtimeFigures(scope, pool, process.execPath, 'main', true);

    // `quarry all` on its own pool directory (the same filesystem), idle.
    const allPool = join(pool.fs.mountPath, 'pool-all');
    await mkdir(allPool);
    const all = await startQuarry(scope, {
      role: 'all',
      dir: pool.workDir,
      socketName: 'all.sock',
      args: ['--nodeid', 'bench-node', '--pool', allPool, '--log-level', 'warn'],
      env: imageEnv(),
      nodeArgs: imageNodeArgs(),
    });
    fig.all = await settledRss(all.pid);
    await all.kill();

    const image = await imageRuntime();
    if (image) fig.image = { ...(await runtimeFigures(scope, pool, image.path, 'image', false)), version: image.version };
    else process.stderr.write('process: no Node 24 binary (QUARRY_BENCH_NODE24); the image-runtime table is left out\n');
  });
  return report(fig.main!, fig.all!, fig.image);
}

const mib = (n: number) => `${n.toFixed(1)} MiB`;
const us = (n: number) => `${n.toFixed(1)} µs`;

/**
 * What a quarry process loads beyond the bare server, each measured by import in a fresh Node 20
 * process with the image's flags (design: Process footprint), and every one needed to serve.
 */
const LOADED_BEYOND_BARE =
  'measured by import: our own modules ~1.8 MiB, the contract parsed into one protobufjs Root ~1.3 MiB (the bare server has ' +
  "proto-loader's parse instead), pino ~0.5 MiB, valibot ~0.5 MiB, fs-native-extensions ~0.3 MiB, execa 8 ~0.1 MiB";

/** Why an RSS goal is missed: the floor measured in the same run, and what of the rest is heap (anon) or code pages (file). */
function rssReason(q: Rss, b: Rss, goal: number): string {
  const over = q.total - b.total;
  const floorNote =
    b.total > goal
      ? `the floor is above the goal by ${mib(b.total - goal)}`
      : `ours is ${mib(over)} over it, ${mib(q.anon - b.anon)} of it anonymous memory (V8 heap of our code and its garbage, malloc) and ${mib(q.file - b.file)} more pages of the node binary and libraries touched; ${LOADED_BEYOND_BARE}`;
  return `${mib(q.total)} against ${mib(b.total)} for the bare grpc-js server in the same run (the floor of the runtime, grpc-js and the contract): ${floorNote}`;
}

/** Why the Probe CPU goal is missed: the bare floor, and our remainder split into the wrapper (GetPluginInfo) and Probe's pool check. */
function probeReason(f: ProcessFigures, bare: ProcessFigures): string {
  const q = f.probe.cpuUsPerCall;
  const b = bare.probe.cpuUsPerCall;
  /** "x µs over <what>" or, when the run's noise put it under, "x µs under <what>, within this run's noise". */
  const versus = (d: number, what: string) => (d >= 0 ? `${us(d)} over ${what}` : `${us(-d)} under ${what}, within this run's noise`);
  const floor = b > PROBE_CPU_GOAL_US ? ` (the floor alone is above the goal by ${us(b - PROBE_CPU_GOAL_US)})` : '';
  const info = f.info?.cpuUsPerCall;
  const split =
    info === undefined
      ? ''
      : `; GetPluginInfo, the same per-call wrapper around a handler that returns constants, measured ${us(info)} (${versus(info - b, 'the bare Probe')}), ` +
        `and Probe ${versus(q - info, 'that')}: its check that every pool is usable (two access(2) calls per pool, ` +
        'each a request to a libuv worker thread)';
  return `${us(q)} against ${us(b)} for a bare grpc-js Probe handler in the same run${floor}: ours is ${versus(q - b, 'it')}${split}`;
}

function report(main: RuntimeFigures, all: Rss, image?: RuntimeFigures & { version: string }): Section {
  const { bare, controller, node } = main;
  const rssRow = (measure: string, q: Rss, b: Rss, goal: number) => ({
    measure,
    quarry: mib(q.total),
    baseline: mib(b.total),
    ratio: q.total / b.total,
    goal: `≤ ${goal} MiB`,
    met: q.total <= goal,
    reason: rssReason(q, b, goal),
  });
  const busy = `after ${MIXED.toLocaleString('en')} mixed RPCs`;
  const rows = [
    rssRow('RSS, `quarry controller` idle', controller.idle, bare.idle, IDLE_GOAL_MIB),
    rssRow('RSS, `quarry node` idle', node.idle, bare.idle, IDLE_GOAL_MIB),
    rssRow(`RSS, \`quarry controller\` ${busy}`, controller.busy, bare.busy, BUSY_GOAL_MIB),
    rssRow(`RSS, \`quarry node\` ${busy}`, node.busy, bare.busy, BUSY_GOAL_MIB),
    ...(
      [
        ['controller', controller],
        ['node', node],
      ] as const
    ).map(([role, f]) => ({
      measure: `Probe CPU per call, \`quarry ${role}\``,
      quarry: us(f.probe.cpuUsPerCall),
      baseline: us(bare.probe.cpuUsPerCall),
      ratio: f.probe.cpuUsPerCall / bare.probe.cpuUsPerCall,
      goal: `≤ ${PROBE_CPU_GOAL_US} µs`,
      met: f.probe.cpuUsPerCall <= PROBE_CPU_GOAL_US,
      reason: probeReason(f, bare),
    })),
    {
      measure: 'GetPluginInfo CPU per call, `quarry controller` (the wrapper alone)',
      quarry: us(controller.info!.cpuUsPerCall),
      baseline: us(bare.probe.cpuUsPerCall),
      ratio: controller.info!.cpuUsPerCall / bare.probe.cpuUsPerCall,
      goal: 'reported (no goal)',
      met: true,
    },
    {
      measure: 'Probe throughput, `quarry node`',
      quarry: `${node.probe.callsPerSecond.toFixed(0)} /s`,
      baseline: `${bare.probe.callsPerSecond.toFixed(0)} /s`,
      ratio: node.probe.callsPerSecond / bare.probe.callsPerSecond,
      goal: 'reported (no goal)',
      met: true,
    },
    {
      measure: 'RSS, `quarry all` idle',
      quarry: mib(all.total),
      baseline: mib(bare.idle.total),
      ratio: all.total / bare.idle.total,
      goal: 'reported (no goal)',
      met: true,
    },
  ];
  const detail = (name: string, f: ProcessFigures) => [
    [`${name}, idle`, f.idle.total.toFixed(1), f.idle.anon.toFixed(1), f.idle.file.toFixed(1)],
    [`${name}, ${busy}`, f.busy.total.toFixed(1), f.busy.anon.toFixed(1), f.busy.file.toFixed(1)],
    ...(f.settled
      ? [
          [
            `${name}, ${SETTLE_AFTER_BUSY_MS / 1000} s later`,
            f.settled.total.toFixed(1),
            f.settled.anon.toFixed(1),
            f.settled.file.toFixed(1),
          ],
        ]
      : []),
  ];
  const imageSection = image
    ? `
**The image's runtime, ${image.version}** (reported, no goal: the goals above are set on the bench's runtime,
${process.version}). The same processes, mixes and environment, measured in this run under the node binary the
container image ships (\`QUARRY_BENCH_NODE24\`, default \`~/.cache/quarry-tools/node-24.22.3/bin/node\`), after
the ${process.version} processes above had exited (without the read ${SETTLE_AFTER_BUSY_MS / 1000} s after the mix, to keep the
section short). Its floor is higher: a bigger binary and a V8 that keeps more.

${table(
  ['measure', `Quarry (${image.version})`, `bare grpc-js (${image.version})`, 'Quarry − bare'],
  [
    ...(
      [
        ['controller', image.controller],
        ['node', image.node],
      ] as const
    ).flatMap(([role, f]) => [
      [`RSS, \`quarry ${role}\` idle`, mib(f.idle.total), mib(image.bare.idle.total), mib(f.idle.total - image.bare.idle.total)],
      [`RSS, \`quarry ${role}\` ${busy}`, mib(f.busy.total), mib(image.bare.busy.total), mib(f.busy.total - image.bare.busy.total)],
      [
        `Probe CPU per call, \`quarry ${role}\``,
        us(f.probe.cpuUsPerCall),
        us(image.bare.probe.cpuUsPerCall),
        us(f.probe.cpuUsPerCall - image.bare.probe.cpuUsPerCall),
      ],
    ]),
    [
      'GetPluginInfo CPU per call, `quarry controller`',
      us(image.controller.info!.cpuUsPerCall),
      us(image.bare.probe.cpuUsPerCall),
      us(image.controller.info!.cpuUsPerCall - image.bare.probe.cpuUsPerCall),
    ],
  ],
  [1, 2, 3],
)}

${table(
  ['process', 'VmRSS MiB', 'RssAnon MiB', 'RssFile MiB'],
  [
    ...detail(`bare grpc-js ${image.version}`, image.bare),
    ...detail(`controller ${image.version}`, image.controller),
    ...detail(`node ${image.version}`, image.node),
  ],
  [1, 2, 3],
)}
`
    : `
**The image's runtime:** no Node 24 binary was found (set \`QUARRY_BENCH_NODE24\`), so this run measured ${process.version} only.
`;
  return {
    title: 'Process: RSS, Probe CPU and Probe throughput, against a bare grpc-js server',
    body: `
- Baseline, measured in the same run: a bare grpc-js server (bench/lib/bare-grpc-server.ts: @grpc/proto-loader on
  proto/csi.proto, one Probe handler, nothing else) on a unix socket, under the same environment. It is the floor of
  any Node CSI driver: the runtime, grpc-js and the contract. Its "${busy}" is after as many Probes.
- Quarry: real \`quarry controller\` and \`quarry node\` processes on a 16 GiB sparse xfs scratch pool, one 1 GiB xfs
  volume staged. Controller mix: Probe, GetPluginInfo, ControllerGetCapabilities, GetCapacity, ListVolumes,
  ValidateVolumeCapabilities, and a CreateVolume+DeleteVolume pair every 100 calls. Node mix: Probe,
  NodeGetCapabilities, NodeGetInfo, NodeGetVolumeStats of the staged volume. ${IN_FLIGHT} calls in flight at a time.
- Every process runs with the container image's environment (the Dockerfile's \`ENV\` lines:
  ${Object.entries(imageEnv())
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(
      ', ',
    )}) and its launcher's node flags (\`${imageNodeArgs().join(' ')}\`). Idle RSS is read ${SETTLE_MS / 1000} s after the first answer (Probe), before any other call; VmRSS from \`/proc/<pid>/status\`.
- Probe CPU: utime+stime of the server process (\`/proc/<pid>/stat\`) over ${PROBES.toLocaleString('en')} Probes after
  ${WARMUP.toLocaleString('en')} to warm up, divided by the calls; throughput is the same calls over their wall time,
  ${IN_FLIGHT} in flight, the client being this bench process (on the same cores). GetPluginInfo is measured the same
  way: its handler returns constants, so it is the per-call wrapper alone, and Probe's excess over it is the pool check.
- What a quarry process holds beyond the bare server, idle: ${LOADED_BEYOND_BARE}. Right after the mixed
  calls the rest is their garbage waiting for a full collection and the optimised code of the hot paths: the read
  ${SETTLE_AFTER_BUSY_MS / 1000} s later shows what a quiet process returns to.
- "${busy}" is read right after the last call: the heap at its fullest. The detail
  table also gives RSS ${SETTLE_AFTER_BUSY_MS / 1000} s later with no call in between, once V8's memory reducer has
  collected and released the old generation: the steady state a quiet process returns to.

**The bench's runtime, ${process.version}** (the goals):

${goalTable(rows)}

${table(['process', 'VmRSS MiB', 'RssAnon MiB', 'RssFile MiB'], [...detail('bare grpc-js', bare), ...detail('controller', controller), ...detail('node', node), ['all, idle', all.total.toFixed(1), all.anon.toFixed(1), all.file.toFixed(1)]], [1, 2, 3])}
${imageSection}`,
  };
}
