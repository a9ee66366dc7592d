/**
 * I/O through a volume staged by a real `quarry node` versus the bare pool filesystem, with fio
 * (O_DIRECT): sequential write and read of 1 GiB in 1 MiB blocks, and 4 KiB random read and write
 * (20,000 I/Os, queue depth 1, one job and four). Spec §5: at least 90% of the pool's own.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GiB, MiB } from '../src/domain/bytes.js';
import type { FsType } from '../src/domain/volume.js';
import { call } from '../src/wire/client.js';
import { ensureFio, fioVersion, runFio, type FioJob, type FioResult } from './lib/fio.js';
import { benchPool, createRequest, mountCapability, startOnPool } from './lib/quarry.js';
import { table, type Section } from './lib/report.js';
import { withScope } from './lib/scope.js';

const RANDOM_IOS = 20_000;
const ROUNDS = 3;
const VOLUME_FS: FsType[] = ['xfs', 'ext4'];

const CASES: Array<{ label: string; job: FioJob; metric: 'bw' | 'iops' }> = [
  { label: 'sequential write, 1 MiB blocks', job: { rw: 'write', bs: '1M', size: '1G' }, metric: 'bw' },
  { label: 'sequential read, 1 MiB blocks', job: { rw: 'read', bs: '1M', size: '1G' }, metric: 'bw' },
  { label: `4 KiB random read, QD1, ${RANDOM_IOS} I/Os`, job: { rw: 'randread', bs: '4k', size: '1G', ios: RANDOM_IOS }, metric: 'iops' },
  { label: `4 KiB random write, QD1, ${RANDOM_IOS} I/Os`, job: { rw: 'randwrite', bs: '4k', size: '1G', ios: RANDOM_IOS }, metric: 'iops' },
  {
    label: `4 KiB random read, 4 jobs × QD1, ${RANDOM_IOS} I/Os`,
    job: { rw: 'randread', bs: '4k', size: '1G', ios: RANDOM_IOS / 4, jobs: 4 },
    metric: 'iops',
  },
  {
    label: `4 KiB random write, 4 jobs × QD1, ${RANDOM_IOS} I/Os`,
    job: { rw: 'randwrite', bs: '4k', size: '1G', ios: RANDOM_IOS / 4, jobs: 4 },
    metric: 'iops',
  },
];

const value = (r: FioResult, metric: 'bw' | 'iops') => (metric === 'bw' ? r.bytesPerSec / MiB : r.iops);
const fmt = (v: number, metric: 'bw' | 'iops') => (metric === 'bw' ? `${v.toFixed(0)} MiB/s` : `${v.toFixed(0)} IOPS`);

/**
 * Each case runs on the bare pool file and on the volume's file in turn, ROUNDS times, and the
 * best of each side counts: the host is shared, so the best run is the least disturbed one.
 * A write case starts from a fresh file (sequential write) so both sides allocate as they go.
 */
async function compare(
  bareDir: string,
  volDir: string,
): Promise<Array<{ label: string; metric: 'bw' | 'iops'; bare: number; vol: number }>> {
  const out = [];
  for (const c of CASES) {
    let bare = 0;
    let vol = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const name = c.job.rw === 'write' ? `seq-${round}.dat` : 'data.dat';
      bare = Math.max(bare, value(await runFio(join(bareDir, name), c.job), c.metric));
      vol = Math.max(vol, value(await runFio(join(volDir, name), c.job), c.metric));
    }
    process.stderr.write(`${c.label}: bare ${fmt(bare, c.metric)}, volume ${fmt(vol, c.metric)} (${((vol / bare) * 100).toFixed(0)}%)\n`);
    out.push({ label: c.label, metric: c.metric, bare, vol });
  }
  return out;
}

export async function ioBench(): Promise<Section> {
  const installNote = await ensureFio();
  const rows: Array<Array<string>> = [];
  await withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType: 'xfs', sizeBytes: 64 * GiB });
    const ctl = await startOnPool(scope, 'controller', pool);
    const node = await startOnPool(scope, 'node', pool);
    const bareDir = join(pool.fs.mountPath, 'bare');
    await mkdir(bareDir);
    // The file random I/O and reads work on, written once on each side.
    await runFio(join(bareDir, 'data.dat'), { rw: 'write', bs: '1M', size: '1G' });
    for (const fsType of VOLUME_FS) {
      const res = await call(ctl.clients.controller, 'CreateVolume', createRequest(`bench-io-${fsType}`, 8 * GiB, fsType), {
        timeoutMs: 60_000,
      });
      const volumeId = (res as { volume: { volume_id: string } }).volume.volume_id;
      const staging = join(pool.workDir, 'staging', fsType);
      await mkdir(staging, { recursive: true });
      const stageReq = { volume_id: volumeId, staging_target_path: staging, volume_capability: mountCapability(fsType) } as never;
      await call(node.clients.node, 'NodeStageVolume', stageReq, { timeoutMs: 120_000 });
      try {
        await runFio(join(staging, 'data.dat'), { rw: 'write', bs: '1M', size: '1G' });
        for (const r of await compare(bareDir, staging)) {
          rows.push([`${fsType} volume`, r.label, fmt(r.bare, r.metric), fmt(r.vol, r.metric), `${((r.vol / r.bare) * 100).toFixed(0)}%`]);
        }
      } finally {
        await call(node.clients.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging } as never, {
          timeoutMs: 60_000,
        });
      }
      await call(ctl.clients.controller, 'DeleteVolume', { volume_id: volumeId } as never, { timeoutMs: 60_000 });
    }
  });
  return {
    title: 'I/O through a staged volume vs the bare pool filesystem (target: at least 90%)',
    body: `
- ${await fioVersion()}; the bench installs fio with \`apt-get install -y fio\` when it is missing${installNote ? ` (this run did: ${installNote})` : ''}.
- Pool: 64 GiB sparse xfs (reflink) scratch fs. "bare pool" is a file in that filesystem; "volume" is a file in a
  8 GiB thin volume (xfs or ext4) staged by a real \`quarry node\` (loop device with direct I/O over the image in the
  pool, 4 KiB sectors).
- fio with \`--direct=1 --ioengine=psync\` (queue depth 1 per job), 1 GiB files; writes end with an fsync. Sequential
  writes go to a fresh file (blocks allocated as written, on both sides); reads and random writes use a 1 GiB file
  written beforehand. Random cases do ${RANDOM_IOS} I/Os in all (with 4 jobs: ${RANDOM_IOS / 4} each, on the same file).
- Each case runs ${ROUNDS} times on each side, alternating; the best of each side is shown (the host is a shared VM, and
  single runs vary by up to ±40%: a ratio above 100% is noise, not a faster volume).

${table(['volume', 'case', 'bare pool', 'through volume', 'volume / bare'], rows, [2, 3, 4])}
`,
  };
}
