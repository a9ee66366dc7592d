/**
 * NodeStageVolume of a fresh 100 GiB volume (attach, mkfs, mount) through a real `quarry node`,
 * ext4 and xfs, median of 5; next to it, the same steps done by hand with the src/host modules
 * on a fresh image in the same pool filesystem. Our goal (design: Performance targets): under 250 ms.
 */
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GiB } from '../src/domain/bytes.js';
import type { FsType } from '../src/domain/volume.js';
import { attachLoop, detachLoop } from '../src/host/losetup.js';
import { makeFilesystem } from '../src/host/mkfs.js';
import { mount, unmount } from '../src/host/mount.js';
import { call } from '../src/wire/client.js';
import { benchPool, createRequest, mountCapability, startOnPool, type BenchPool } from './lib/quarry.js';
import { table, type Section } from './lib/report.js';
import { withScope } from './lib/scope.js';
import { ms, summarize, timed } from './lib/stats.js';

const SIZE = 100 * GiB;
const REPS = 5;
const FS_TYPES: FsType[] = ['ext4', 'xfs'];
/** The options nodeStageVolume gives mkfs and mount, so the bare run does the same work. */
const MKFS_OPTIONS: Record<string, string[]> = { ext4: ['-b', '4096'], xfs: ['-s', 'size=4096'] };
const MOUNT_OPTIONS: Record<string, string[]> = { ext4: [], xfs: ['nouuid'] };

type Row = Array<string | number>;

async function stageRpc(
  pool: BenchPool,
  ctl: Awaited<ReturnType<typeof startOnPool>>,
  node: Awaited<ReturnType<typeof startOnPool>>,
  fsType: FsType,
): Promise<Row> {
  const samples: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const res = await call(ctl.clients.controller, 'CreateVolume', createRequest(`bench-stage-${fsType}-${i}`, SIZE, fsType), {
      timeoutMs: 60_000,
    });
    const volumeId = (res as { volume: { volume_id: string } }).volume.volume_id;
    const staging = join(pool.workDir, 'staging', `${fsType}-${i}`);
    await mkdir(staging, { recursive: true });
    const req = { volume_id: volumeId, staging_target_path: staging, volume_capability: mountCapability(fsType) } as never;
    const [, t] = await timed(() => call(node.clients.node, 'NodeStageVolume', req, { timeoutMs: 120_000 }));
    samples.push(t);
    await call(node.clients.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging } as never, {
      timeoutMs: 60_000,
    });
    await call(ctl.clients.controller, 'DeleteVolume', { volume_id: volumeId } as never, { timeoutMs: 60_000 });
  }
  const s = summarize(samples);
  process.stderr.write(`NodeStageVolume ${fsType} 100 GiB: median ${ms(s.medianMs)} ms\n`);
  return [fsType, 'NodeStageVolume RPC (quarry node)', '–', '–', '–', ms(s.medianMs), ms(s.minMs), ms(s.maxMs)];
}

/** losetup + mkfs (with its blank-device probe) + mount through src/host, on a fresh sparse image. */
async function bareTools(pool: BenchPool, fsType: FsType): Promise<Row> {
  const steps = { attach: [] as number[], mkfs: [] as number[], mount: [] as number[], total: [] as number[] };
  for (let i = 0; i < REPS; i++) {
    const image = join(pool.fs.mountPath, `bare-${fsType}-${i}.img`);
    const target = join(pool.workDir, 'bare', `${fsType}-${i}`);
    await mkdir(target, { recursive: true });
    await writeFile(image, '');
    await truncate(image, SIZE);
    const [{ device }, tAttach] = await timed(() => attachLoop(image, { directIo: true }));
    try {
      const [, tMkfs] = await timed(() => makeFilesystem(device, fsType, { options: MKFS_OPTIONS[fsType] }));
      const [, tMount] = await timed(() => mount({ source: device, target, fsType, options: MOUNT_OPTIONS[fsType] }));
      await unmount(target);
      steps.attach.push(tAttach);
      steps.mkfs.push(tMkfs);
      steps.mount.push(tMount);
      steps.total.push(tAttach + tMkfs + tMount);
    } finally {
      await detachLoop(device);
      await rm(image);
    }
  }
  const med = (xs: number[]) => ms(summarize(xs).medianMs);
  const s = summarize(steps.total);
  process.stderr.write(`bare losetup+mkfs+mount ${fsType} 100 GiB: median ${ms(s.medianMs)} ms\n`);
  return [
    fsType,
    'bare tools via src/host (losetup, blkid + mkfs, mount)',
    med(steps.attach),
    med(steps.mkfs),
    med(steps.mount),
    ms(s.medianMs),
    ms(s.minMs),
    ms(s.maxMs),
  ];
}

export async function stageBench(): Promise<Section> {
  const rows = await withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType: 'xfs' });
    const ctl = await startOnPool(scope, 'controller', pool);
    const node = await startOnPool(scope, 'node', pool);
    const out: Row[] = [];
    for (const fsType of FS_TYPES) {
      out.push(await stageRpc(pool, ctl, node, fsType));
      out.push(await bareTools(pool, fsType));
    }
    return out;
  });
  return {
    title: 'NodeStageVolume of a fresh 100 GiB volume (target: under 250 ms; the tools themselves about 50 ms)',
    body: `
- Pool: 400 GiB sparse xfs (reflink) scratch fs; real \`quarry controller\` and \`quarry node\` processes on unix sockets.
- RPC rows: CreateVolume (100 GiB thin, not timed), then NodeStageVolume timed at the client: record the staging
  intent, attach the image to a loop device (direct I/O, 4 KiB sectors), blkid probe, mkfs with
  \`-b 4096\` (ext4) or \`-s size=4096\` (xfs), mount, record the device. Then unstage and delete (not timed).
  ${REPS} fresh volumes per filesystem; median, min, max.
- Bare rows: the same host steps run by hand through \`src/host\` (\`attachLoop\`, \`makeFilesystem\` which probes with
  blkid before mkfs, \`mount\`) on a fresh 100 GiB sparse image in the same pool filesystem; per-step medians.

${table(['volume fs', 'what', 'attach ms', 'mkfs ms', 'mount ms', 'median ms', 'min ms', 'max ms'], rows, [2, 3, 4, 5, 6, 7])}
`,
  };
}
