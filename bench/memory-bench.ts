/**
 * RSS of a real `quarry node` process at start and every 1,000 RPCs up to 10,000 (a rotation of
 * NodeGetCapabilities, NodeGetInfo and NodeGetVolumeStats on a staged volume), from VmRSS in
 * /proc/<pid>/status. Spec §5: under 80 MB, and no growth.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GiB } from '../src/domain/bytes.js';
import { call } from '../src/wire/client.js';
import { benchPool, createRequest, imageNodeOptions, mountCapability, startOnPool } from './lib/quarry.js';
import { table, type Section } from './lib/report.js';
import { withScope } from './lib/scope.js';

const TOTAL = 10_000;
const EVERY = 1_000;
/** Calls kept in flight at once, as a kubelet with several pods would. */
const IN_FLIGHT = 4;

interface Rss {
  total: number;
  anon: number;
  file: number;
}

/** VmRSS and its anonymous (heap) and file-backed (the node binary's pages) parts, in MiB. */
async function rssMiB(pid: number): Promise<Rss> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const kb = Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]);
    if (!Number.isFinite(kb)) throw new Error(`no ${name} in /proc/${pid}/status`);
    return kb / 1024;
  };
  return { total: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

export async function memoryBench(): Promise<Section> {
  const samples: Array<[string, Rss]> = [];
  await withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType: 'xfs', sizeBytes: 16 * GiB });
    const ctl = await startOnPool(scope, 'controller', pool);
    const node = await startOnPool(scope, 'node', pool);
    samples.push(['after start (Probe answered)', await rssMiB(node.pid)]);
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
    samples.push(['after NodeStageVolume', await rssMiB(node.pid)]);
    const n = node.clients.node;
    const rpc = (i: number) =>
      i % 3 === 0
        ? call(n, 'NodeGetCapabilities', {})
        : i % 3 === 1
          ? call(n, 'NodeGetInfo', {})
          : call(n, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: staging } as never);
    const t0 = Date.now();
    for (let done = 0; done < TOTAL; done += EVERY) {
      for (let i = done; i < done + EVERY; i += IN_FLIGHT) {
        await Promise.all(Array.from({ length: IN_FLIGHT }, (_, k) => rpc(i + k)));
      }
      samples.push([`after ${done + EVERY} RPCs`, await rssMiB(node.pid)]);
    }
    process.stderr.write(
      `memory: ${TOTAL} RPCs in ${((Date.now() - t0) / 1000).toFixed(1)} s; RSS ${samples.map(([, v]) => v.total.toFixed(1)).join(' ')} MiB\n`,
    );
    await call(node.clients.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging } as never, {
      timeoutMs: 60_000,
    });
    await call(ctl.clients.controller, 'DeleteVolume', { volume_id: volumeId } as never);
  });
  const afterFirst = samples.find(([l]) => l === `after ${EVERY} RPCs`)![1].total;
  const last = samples[samples.length - 1]![1].total;
  const half = samples.find(([l]) => l === `after ${TOTAL / 2} RPCs`)![1].total;
  const peak = Math.max(...samples.map(([, v]) => v.total));
  const signed = (d: number) => `${d >= 0 ? '+' : ''}${d.toFixed(1)}`;
  return {
    title: `Memory of a node process over ${TOTAL.toLocaleString('en')} RPCs (target: under 80 MB RSS, no growth)`,
    body: `
- A real \`quarry node\` (and a controller for CreateVolume) on a 16 GiB sparse xfs scratch pool; one 1 GiB xfs volume
  staged. Then ${TOTAL.toLocaleString('en')} RPCs in rotation: NodeGetCapabilities, NodeGetInfo, NodeGetVolumeStats of the staged
  volume (statfs, mountinfo, loop lookup), ${IN_FLIGHT} in flight at a time.
- RSS is VmRSS from \`/proc/<pid>/status\` of the node process, with its RssAnon (JS heap and other private memory)
  and RssFile (pages of the node binary and libraries) parts. MB here = MiB.
- The processes run with the container image's V8 flags (\`NODE_OPTIONS="${imageNodeOptions()}"\`, from the Dockerfile);
  without them V8 lets the heap drift to about 150 MiB before collecting.
- Peak ${peak.toFixed(1)} MiB; from the first 1,000-RPC sample to the last: ${signed(last - afterFirst)} MiB; over the second half
  (${(TOTAL / 2).toLocaleString('en')} → ${TOTAL.toLocaleString('en')} RPCs): ${signed(last - half)} MiB.

${table(
  ['when', 'VmRSS MiB', 'RssAnon MiB', 'RssFile MiB'],
  samples.map(([l, v]) => [l, v.total.toFixed(1), v.anon.toFixed(1), v.file.toFixed(1)]),
  [1, 2, 3],
)}
`,
  };
}
