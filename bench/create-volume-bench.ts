/**
 * 500 concurrent CreateVolume calls (distinct names, 1 GiB thin) against one real `quarry
 * controller`, then 500 concurrent DeleteVolume, on an xfs pool and on an ext4 pool.
 * Spec §5: "500 concurrent requests finish in seconds, not minutes".
 */
import { GiB } from '../src/domain/bytes.js';
import { call } from '../src/wire/client.js';
import { benchPool, createRequest, startOnPool } from './lib/quarry.js';
import { table, type Section } from './lib/report.js';
import { withScope } from './lib/scope.js';
import { ms, percentile, timed } from './lib/stats.js';

const COUNT = 500;
const TIMEOUT_MS = 600_000;

interface Burst {
  wallMs: number;
  latencies: number[];
  failures: string[];
}

/** Starts every call at once; each call's latency runs from the start of the burst. */
async function burst(calls: Array<() => Promise<unknown>>): Promise<Burst> {
  const failures: string[] = [];
  const [latencies, wallMs] = await timed(() =>
    Promise.all(
      calls.map(async (fn) => {
        const [, lat] = await timed(() => fn().catch((e: Error) => void failures.push(e.message)));
        return lat;
      }),
    ),
  );
  return { wallMs, latencies, failures };
}

async function onPool(fsType: 'xfs' | 'ext4'): Promise<string[][]> {
  return withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType });
    const ctl = await startOnPool(scope, 'controller', pool);
    const c = ctl.clients.controller;
    const names = Array.from({ length: COUNT }, (_, i) => `bench-cv-${i}`);
    const ids: string[] = [];
    const create = await burst(
      names.map((name) => async () => {
        const res = await call(c, 'CreateVolume', createRequest(name, 1 * GiB, 'xfs'), { timeoutMs: TIMEOUT_MS });
        ids.push((res as { volume: { volume_id: string } }).volume.volume_id);
      }),
    );
    const del = await burst(ids.map((id) => () => call(c, 'DeleteVolume', { volume_id: id } as never, { timeoutMs: TIMEOUT_MS })));
    const row = (op: string, b: Burst) => [
      `${fsType} pool`,
      op,
      String(COUNT),
      String(COUNT - b.failures.length),
      (b.wallMs / 1000).toFixed(2),
      ms(percentile(b.latencies, 50)),
      ms(percentile(b.latencies, 99)),
      ms(Math.max(...b.latencies)),
    ];
    for (const [op, b] of [
      ['CreateVolume', create],
      ['DeleteVolume', del],
    ] as const) {
      process.stderr.write(`${fsType} pool: ${COUNT} concurrent ${op}: ${(b.wallMs / 1000).toFixed(2)} s, ${b.failures.length} failed\n`);
      if (b.failures.length) process.stderr.write(`  first failure: ${b.failures[0]}\n`);
    }
    return [row('CreateVolume', create), row('DeleteVolume', del)];
  });
}

export async function createVolumeBench(): Promise<Section> {
  const rows = [...(await onPool('xfs')), ...(await onPool('ext4'))];
  return {
    title: `CreateVolume and DeleteVolume, ${COUNT} at once (target: seconds, not minutes)`,
    body: `
- One real \`quarry controller\` process per pool (400 GiB sparse scratch fs, \`--overprovisioning 10\`), driven over
  its unix socket by one gRPC client: ${COUNT} CreateVolume calls with distinct names (1 GiB, thin, fstype xfs) all
  started at once, then the ${COUNT} DeleteVolume calls of the volumes made, all at once.
- Wall time is from the first call to the last answer. Latency of a call counts from the moment the burst started
  (so queueing inside the controller is included); p50/p99 are nearest-rank.

${table(['pool', 'RPC', 'calls', 'succeeded', 'wall s', 'p50 ms', 'p99 ms', 'max ms'], rows, [2, 3, 4, 5, 6, 7])}
`,
  };
}
