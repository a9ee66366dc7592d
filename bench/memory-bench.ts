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
import { spawn } from 'node:child_process';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GiB } from '../src/domain/bytes.js';
import { call, csiClients, type CsiClients } from '../src/wire/client.js';
import { startQuarry } from '../test/helpers/quarry-process.js';
import { onCleanup, type HasAfter } from '../test/helpers/scratch.js';
import { benchPool, createRequest, imageEnv, mountCapability, startOnPool } from './lib/quarry.js';
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

async function probeFigures(pid: number, clients: CsiClients): Promise<ProbeFigures> {
  const probe = () => call(clients.identity, 'Probe', {});
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
  /** SETTLE_AFTER_BUSY_MS later, with no call in between: what V8's memory reducer gives back. */
  settled: Rss;
  probe: ProbeFigures;
}

async function settledRss(pid: number): Promise<Rss> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return rssMiB(pid);
}

/** `mixed` RPCs and RSS, then the Probe figures; `idle` was read before any work. */
async function measure(pid: number, clients: CsiClients, idle: Rss, mixed: (i: number) => Promise<unknown>): Promise<ProcessFigures> {
  const t0 = Date.now();
  await drive(MIXED, mixed);
  const busy = await rssMiB(pid);
  await new Promise((r) => setTimeout(r, SETTLE_AFTER_BUSY_MS));
  const settled = await rssMiB(pid);
  const probe = await probeFigures(pid, clients);
  process.stderr.write(
    `process: pid ${pid}: idle ${idle.total.toFixed(1)} MiB, ${MIXED} RPCs in ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
      `then ${busy.total.toFixed(1)} MiB; Probe ${probe.cpuUsPerCall.toFixed(1)} µs CPU, ${probe.callsPerSecond.toFixed(0)}/s\n`,
  );
  return { idle, busy, settled, probe };
}

/** The baseline server as its own process, under the same node flags; killed by the scope. */
async function startBare(scope: HasAfter, dir: string): Promise<{ pid: number; clients: CsiClients }> {
  const socketPath = join(dir, 'bare.sock');
  const script = fileURLToPath(new URL('./lib/bare-grpc-server.js', import.meta.url));
  const child = spawn(process.execPath, [script, socketPath], {
    env: { ...process.env, ...imageEnv() },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
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

export async function memoryBench(): Promise<Section> {
  const fig: { bare?: ProcessFigures; controller?: ProcessFigures; node?: ProcessFigures; all?: Rss } = {};
  await withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType: 'xfs', sizeBytes: 16 * GiB });
    const bare = await startBare(scope, pool.workDir);
    fig.bare = await measure(bare.pid, bare.clients, await settledRss(bare.pid), () => call(bare.clients.identity, 'Probe', {}));

    const ctl = await startOnPool(scope, 'controller', pool);
    const node = await startOnPool(scope, 'node', pool);
    // Idle: started, Probe answered, nothing else asked yet.
    const ctlIdle = await settledRss(ctl.pid);
    const nodeIdle = await rssMiB(node.pid);
    const res = await call(ctl.clients.controller, 'CreateVolume', createRequest('bench-mem', 1 * GiB, 'xfs'));
    const volumeId = (res as { volume: { volume_id: string } }).volume.volume_id;
    const staging = join(pool.workDir, 'staging', 'mem');
    await mkdir(staging, { recursive: true });
    await call(
      node.clients.node,
      'NodeStageVolume',
      { volume_id: volumeId, staging_target_path: staging, volume_capability: mountCapability('xfs') } as never,
      { timeoutMs: 60_000 },
    );

    // The controller's mix: what the sidecars ask all day, and a create+delete pair every 100 calls.
    const c = ctl.clients;
    const caps = [mountCapability('xfs')];
    const controllerRpc = async (i: number): Promise<unknown> => {
      if (i % 100 === 0) {
        const made = await call(c.controller, 'CreateVolume', createRequest(`bench-mem-${i}`, 512 * 1024 * 1024, 'xfs'));
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
    const n = node.clients;
    const nodeRpc = (i: number): Promise<unknown> =>
      i % 4 === 0
        ? call(n.identity, 'Probe', {})
        : i % 4 === 1
          ? call(n.node, 'NodeGetCapabilities', {})
          : i % 4 === 2
            ? call(n.node, 'NodeGetInfo', {})
            : call(n.node, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: staging } as never);
    fig.controller = await measure(ctl.pid, ctl.clients, ctlIdle, controllerRpc);
    fig.node = await measure(node.pid, node.clients, nodeIdle, nodeRpc);

    await call(n.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging } as never, { timeoutMs: 60_000 });
    await call(c.controller, 'DeleteVolume', { volume_id: volumeId } as never);

    // `quarry all` on its own pool directory (the same filesystem), idle.
    const allPool = join(pool.fs.mountPath, 'pool-all');
    await mkdir(allPool);
    const all = await startQuarry(scope, {
      role: 'all',
      dir: pool.workDir,
      socketName: 'all.sock',
      args: ['--nodeid', 'bench-node', '--pool', allPool, '--log-level', 'warn'],
      env: imageEnv(),
    });
    fig.all = await settledRss(all.pid);
  });
  return report(fig.bare!, fig.controller!, fig.node!, fig.all!);
}

const mib = (n: number) => `${n.toFixed(1)} MiB`;

function report(bare: ProcessFigures, controller: ProcessFigures, node: ProcessFigures, all: Rss): Section {
  const rssRow = (measure: string, q: number, b: number, goal: number, why: string) => ({
    measure,
    quarry: mib(q),
    baseline: mib(b),
    ratio: q / b,
    goal: `≤ ${goal} MiB`,
    met: q <= goal,
    reason: `${mib(q)} against ${mib(b)} for the bare grpc-js server: ${why}`,
  });
  const fileShare = `of which ${mib(bare.idle.file)} is the node binary's and libraries' pages (RssFile), the same in both`;
  const rows = [
    rssRow('RSS, `quarry controller` idle', controller.idle.total, bare.idle.total, IDLE_GOAL_MIB, fileShare),
    rssRow('RSS, `quarry node` idle', node.idle.total, bare.idle.total, IDLE_GOAL_MIB, fileShare),
    rssRow(
      `RSS, \`quarry controller\` after ${MIXED.toLocaleString('en')} mixed RPCs`,
      controller.busy.total,
      bare.busy.total,
      BUSY_GOAL_MIB,
      fileShare,
    ),
    rssRow(
      `RSS, \`quarry node\` after ${MIXED.toLocaleString('en')} mixed RPCs`,
      node.busy.total,
      bare.busy.total,
      BUSY_GOAL_MIB,
      fileShare,
    ),
    ...(
      [
        ['controller', controller],
        ['node', node],
      ] as const
    ).map(([role, f]) => ({
      measure: `Probe CPU per call, \`quarry ${role}\``,
      quarry: `${f.probe.cpuUsPerCall.toFixed(1)} µs`,
      baseline: `${bare.probe.cpuUsPerCall.toFixed(1)} µs`,
      ratio: f.probe.cpuUsPerCall / bare.probe.cpuUsPerCall,
      goal: `≤ ${PROBE_CPU_GOAL_US} µs`,
      met: f.probe.cpuUsPerCall <= PROBE_CPU_GOAL_US,
      reason: `the per-call wrapper (redaction, request scope, logging) costs ${(f.probe.cpuUsPerCall - bare.probe.cpuUsPerCall).toFixed(1)} µs over a bare handler`,
    })),
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
    [`${name}, after ${MIXED.toLocaleString('en')} RPCs`, f.busy.total.toFixed(1), f.busy.anon.toFixed(1), f.busy.file.toFixed(1)],
    [`${name}, ${SETTLE_AFTER_BUSY_MS / 1000} s later`, f.settled.total.toFixed(1), f.settled.anon.toFixed(1), f.settled.file.toFixed(1)],
  ];
  return {
    title: 'Process: RSS, Probe CPU and Probe throughput, against a bare grpc-js server',
    body: `
- Baseline, measured in the same run: a bare grpc-js server (bench/lib/bare-grpc-server.ts: @grpc/proto-loader on
  proto/csi.proto, one Probe handler, nothing else) on a unix socket, under the same environment. It is the floor of
  any Node CSI driver: the runtime, grpc-js and the contract. Its "after ${MIXED.toLocaleString('en')} RPCs" is after as many Probes.
- Quarry: real \`quarry controller\` and \`quarry node\` processes on a 16 GiB sparse xfs scratch pool, one 1 GiB xfs
  volume staged. Controller mix: Probe, GetPluginInfo, ControllerGetCapabilities, GetCapacity, ListVolumes,
  ValidateVolumeCapabilities, and a CreateVolume+DeleteVolume pair every 100 calls. Node mix: Probe,
  NodeGetCapabilities, NodeGetInfo, NodeGetVolumeStats of the staged volume. ${IN_FLIGHT} calls in flight at a time.
- Every process runs with the container image's environment (the Dockerfile's \`ENV\` lines:
  ${Object.entries(imageEnv())
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(
      ', ',
    )}). Idle RSS is read ${SETTLE_MS / 1000} s after the first answer (Probe), before any other call; VmRSS from \`/proc/<pid>/status\`.
- Probe CPU: utime+stime of the server process (\`/proc/<pid>/stat\`) over ${PROBES.toLocaleString('en')} Probes after
  ${WARMUP.toLocaleString('en')} to warm up, divided by the calls; throughput is the same calls over their wall time,
  ${IN_FLIGHT} in flight, the client being this bench process (on the same cores).
- "After ${MIXED.toLocaleString('en')} mixed RPCs" is read right after the last call: the heap at its fullest. The detail
  table also gives RSS ${SETTLE_AFTER_BUSY_MS / 1000} s later with no call in between, once V8's memory reducer has
  collected and released the old generation: the steady state a quiet process returns to.

${goalTable(rows)}

${table(['process', 'VmRSS MiB', 'RssAnon MiB', 'RssFile MiB'], [...detail('bare grpc-js', bare), ...detail('controller', controller), ...detail('node', node), ['all, idle', all.total.toFixed(1), all.anon.toFixed(1), all.file.toFixed(1)]], [1, 2, 3])}
`,
  };
}
