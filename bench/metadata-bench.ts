/**
 * How long changed-block metadata takes (design: Changed-block metadata): a 100 GiB thin block
 * volume on a reflink xfs pool, 1 GiB written in scattered writes, snapshot A, another 1 GiB of
 * scattered writes, snapshot B; then GetMetadataDelta(A, B) and GetMetadataAllocated(B) over gRPC
 * from a real `quarry controller`. The baseline is what a backup tool without the service does:
 * read both images and compare them block by block. Run by bench/run-all.ts.
 */
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../src/domain/bytes.js';
import { snapshotMetadataClient } from '../src/wire/client.js';
import type { SnapshotMetadataClient } from '../src/wire/types.js';
import { call } from '../test/helpers/grpc-client.js';
import { benchPool, startOnPool } from './lib/quarry.js';
import { goalTable, table, type Section } from './lib/report.js';
import { withScope } from './lib/scope.js';
import { summarize, timed } from './lib/stats.js';
import { seededRng } from '../test/chaos/lib/rng.js';

const VOLUME = 100 * GiB;
const CHANGED = 1 * GiB;
const BLOCK = 4096;
const REPS = 5;
/** The baseline reads this much of each image and is scaled up to the whole volume. */
const BASELINE_SPAN = 10 * GiB;

/** The chaos suite's seeded generator (mulberry32): the same write pattern every run. */
const rng = (seed: number): (() => number) => seededRng(seed).next;

/** Writes `total` bytes into `image` as writes of 4 KiB to 1 MiB (4 KiB-aligned) at random places; returns the count. */
async function scatterWrites(image: string, total: number, seed: number): Promise<number> {
  const rand = rng(seed);
  const buf = Buffer.alloc(MiB);
  const fd = await open(image, 'r+');
  let written = 0;
  let writes = 0;
  try {
    while (written < total) {
      const len = Math.min(total - written, (1 + Math.floor(rand() * 256)) * BLOCK);
      const at = Math.floor(rand() * ((VOLUME - len) / BLOCK)) * BLOCK;
      await fd.write(randomFillSync(buf, 0, len), 0, len, at);
      written += len;
      writes++;
    }
    await fd.sync();
  } finally {
    await fd.close();
  }
  return writes;
}

/** Compares the first `span` bytes of two images block by block, as a backup tool without metadata would. */
async function compareImages(a: string, b: string, span: number): Promise<number> {
  const chunk = 8 * MiB;
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  const ba = Buffer.alloc(chunk);
  const bb = Buffer.alloc(chunk);
  let differing = 0;
  try {
    for (let off = 0; off < span; off += chunk) {
      await Promise.all([fa.read(ba, 0, chunk, off), fb.read(bb, 0, chunk, off)]);
      if (ba.equals(bb)) continue; // whole chunk equal: no need to look at its blocks
      for (let k = 0; k < chunk; k += BLOCK) if (ba.compare(bb, k, k + BLOCK, k, k + BLOCK) !== 0) differing++;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
  return differing * BLOCK;
}

interface Answer {
  ranges: number;
  bytes: number;
  messages: number;
  /** Bytes reported inside the span the baseline compares, to set side by side with it. */
  bytesInSpan: number;
}

/** Runs one streaming call to its end and counts what came back. */
function streamed(client: SnapshotMetadataClient, method: 'GetMetadataDelta' | 'GetMetadataAllocated', req: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    type Msg = { block_metadata: { byte_offset: number; size_bytes: number }[] };
    const s = (client[method] as (r: unknown, o: grpc.CallOptions) => grpc.ClientReadableStream<Msg>).call(client, req, {
      deadline: Date.now() + 300_000,
    });
    const a: Answer = { ranges: 0, bytes: 0, messages: 0, bytesInSpan: 0 };
    s.on('data', (m) => {
      a.messages++;
      a.ranges += m.block_metadata.length;
      for (const b of m.block_metadata) {
        const start = Number(b.byte_offset);
        const end = start + Number(b.size_bytes);
        a.bytes += end - start;
        a.bytesInSpan += Math.max(0, Math.min(end, BASELINE_SPAN) - start);
      }
    });
    s.on('error', reject);
    s.on('end', () => resolve(a));
  });
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const gib = (n: number) => `${(n / GiB).toFixed(3)} GiB`;

export async function metadataBench(): Promise<Section> {
  return withScope(async (scope) => {
    const pool = await benchPool(scope, { fsType: 'xfs', reflink: true });
    const q = await startOnPool(scope, 'controller', pool);
    const c = q.clients.controller;
    const volumeId = (
      await call(c, 'CreateVolume', {
        name: 'bench-meta',
        capacity_range: { required_bytes: VOLUME },
        volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
        parameters: { provisioning: 'thin' },
      } as never)
    ).volume!.volume_id!;
    const image = join(pool.path, 'volumes', `${volumeId}.img`);
    const snapImage = (id: string) => join(pool.path, 'snapshots', `${id}.img`);
    const snapshot = async (name: string) =>
      (await call(c, 'CreateSnapshot', { name, source_volume_id: volumeId }, { timeoutMs: 120_000 })).snapshot!.snapshot_id!;

    process.stderr.write('metadata: writing 1 GiB scattered, snapshot, 1 GiB more scattered, snapshot\n');
    const baseWrites = await scatterWrites(image, CHANGED, 1);
    const base = await snapshot('bench-meta-a');
    const changeWrites = await scatterWrites(image, CHANGED, 2);
    const target = await snapshot('bench-meta-b');

    const client = snapshotMetadataClient(q.socketPath);
    scope.after(() => client.close());
    const deltaMs: number[] = [];
    const allocMs: number[] = [];
    let delta: Answer | undefined;
    let alloc: Answer | undefined;
    for (let i = 0; i < REPS; i++) {
      const [d, dt] = await timed(() => streamed(client, 'GetMetadataDelta', { base_snapshot_id: base, target_snapshot_id: target }));
      const [a, at] = await timed(() => streamed(client, 'GetMetadataAllocated', { snapshot_id: target }));
      deltaMs.push(dt);
      allocMs.push(at);
      delta = d;
      alloc = a;
    }
    process.stderr.write(
      `metadata: delta ${summarize(deltaMs).medianMs.toFixed(0)} ms; comparing ${BASELINE_SPAN / GiB} GiB of both images\n`,
    );
    const [differingInSpan, cmpMs] = await timed(() => compareImages(snapImage(base), snapImage(target), BASELINE_SPAN));
    const scale = VOLUME / BASELINE_SPAN;
    const baselineMs = cmpMs * scale;
    const d = summarize(deltaMs).medianMs;
    const a = summarize(allocMs).medianMs;

    for (const id of [base, target]) await call(c, 'DeleteSnapshot', { snapshot_id: id });
    await call(c, 'DeleteVolume', { volume_id: volumeId });

    const body = `A 100 GiB thin block volume in a reflink xfs pool (on a loop-mounted scratch file). ${baseWrites} scattered
writes of 4 KiB to 1 MiB (uniform in 4 KiB steps, at random 4 KiB-aligned offsets) put 1 GiB into it, snapshot A
is taken, then ${changeWrites} more such writes change 1 GiB (some land on the same place), and snapshot B is
taken. Both calls go over gRPC to a real \`quarry controller\` and read the stream to its end; median of ${REPS}.
The issue sets no goal for these: they are reported.

Baseline: what a backup tool does without the service, reading both snapshot images and comparing them 4 KiB
block by 4 KiB block (8 MiB reads; a chunk equal as a whole is skipped, else \`Buffer.compare\` per block), measured
in the same run on the first ${BASELINE_SPAN / GiB} GiB
of the two images and multiplied by ${scale}; reading all 100 GiB twice would not fit the bench's time. Holes read
as zeros without touching the disk, which favours the baseline; the scratch pool sits on a loop device over a file, as
in every bench here.

${goalTable([
  {
    measure: 'GetMetadataDelta, 100 GiB volume, 1 GiB changed',
    quarry: sec(d),
    baseline: `${sec(baselineMs)} (scaled ×${scale})`,
    // Left out: at this size Quarry ÷ baseline prints as 0.00×; the text below gives the factor.
    goal: 'report',
    met: true,
  },
  { measure: 'GetMetadataAllocated, same volume (2 GiB written)', quarry: sec(a), baseline: '—', goal: 'report', met: true },
])}

The delta took 1/${Math.round(baselineMs / d)} of the (scaled) comparison's time.

${table(
  ['answer', 'ranges', 'messages', 'bytes reported'],
  [
    ['delta A → B', delta!.ranges, delta!.messages, gib(delta!.bytes)],
    [`delta A → B, first ${BASELINE_SPAN / GiB} GiB`, '—', '—', gib(delta!.bytesInSpan)],
    ['allocated B', alloc!.ranges, alloc!.messages, gib(alloc!.bytes)],
    [`byte comparison, first ${BASELINE_SPAN / GiB} GiB`, '—', '—', `${gib(differingInSpan)} differ`],
  ],
  [1, 2, 3],
)}

The delta reports whole rewritten extents: a 4 KiB-aligned write changes exactly its blocks, so the delta is close
to the 1 GiB written (less where writes overlapped), and within the compared span it matches the byte comparison.
`;
    return { title: 'Changed-block metadata (SnapshotMetadata)', body };
  });
}
