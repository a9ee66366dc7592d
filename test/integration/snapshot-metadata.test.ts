// CSI SnapshotMetadata through real quarry processes over gRPC (design: Changed-block metadata).
// Known blocks are written to a volume (block and filesystem), snapshotted, changed (overwrites,
// new blocks, a discard that punches a hole, a rewrite with the same bytes), snapshotted again;
// the delta the service streams is then checked against a byte-by-byte comparison of the two
// snapshot images, done here: no changed byte may be outside a returned range, and the bytes
// reported but identical are bounded and printed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { run } from '../../src/host/exec.js';
import {
  assertNoHostState,
  createVolume,
  deleteVolume,
  provision,
  startCluster,
  teardown,
  type Cluster,
  type VolumeKind,
} from '../helpers/csi-flow.js';
import { call } from '../helpers/grpc-client.js';
import { collect, metadataClient, rangesOf, type Range } from '../helpers/metadata-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { makeScratchFs } from '../helpers/scratch.js';
import { startQuarryOnPool } from '../helpers/snapshot-harness.js';
import { seededRng } from '../chaos/lib/rng.js';

const BLOCK = 4096;

async function snapshot(c: Cluster, name: string, volumeId: string): Promise<string> {
  const res = await call(c.ctl.controller, 'CreateSnapshot', { name, source_volume_id: volumeId });
  return res.snapshot!.snapshot_id!;
}

const snapshotImage = (c: Cluster, id: string) => join(c.poolPath, 'snapshots', `${id}.img`);

/** Writes `data` at `offset` of a file or device and fsyncs it. */
async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const fd = await open(path, 'r+');
  try {
    await fd.write(data, 0, data.length, offset);
    await fd.sync();
  } finally {
    await fd.close();
  }
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fd = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fd.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fd.close();
  }
}

/** Indexes of the 4 KiB blocks where two images differ, read whole (the test's own byte-by-byte answer). */
async function differingBlocks(a: string, b: string): Promise<number[]> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  const size = Math.max(x.length, y.length);
  const out: number[] = [];
  const zero = Buffer.alloc(BLOCK);
  for (let off = 0; off < size; off += BLOCK) {
    const bx = off < x.length ? x.subarray(off, off + BLOCK) : zero;
    const by = off < y.length ? y.subarray(off, off + BLOCK) : zero;
    if (!bx.equals(by)) out.push(off / BLOCK);
  }
  return out;
}

async function nonZeroBlocks(path: string): Promise<number[]> {
  const x = await readFile(path);
  const out: number[] = [];
  for (let off = 0; off < x.length; off += BLOCK) {
    const b = x.subarray(off, off + BLOCK);
    if (b.some((v) => v !== 0)) out.push(off / BLOCK);
  }
  return out;
}

const covered = (ranges: readonly Range[], block: number) =>
  ranges.some((r) => r.offset <= block * BLOCK && (block + 1) * BLOCK <= r.offset + r.length);
const total = (ranges: readonly Range[]) => ranges.reduce((s, r) => s + r.length, 0);

/** Sorted, non-overlapping, block-aligned: the CSI rules for a VARIABLE_LENGTH answer, plus ours. */
function assertWellFormed(ranges: readonly Range[], capacity: number): void {
  let end = 0;
  for (const r of ranges) {
    assert.ok(r.length > 0 && r.offset >= end, `ranges ascend without overlap (${r.offset} after ${end})`);
    assert.equal(r.offset % BLOCK, 0, `offset ${r.offset} is block-aligned`);
    assert.equal(r.length % BLOCK, 0, `length ${r.length} is block-aligned`);
    end = r.offset + r.length;
  }
  assert.ok(end <= capacity, 'no range past the volume');
}

interface Change {
  /** What the test did to the volume between the two snapshots. */
  change(): Promise<void>;
  /** Bytes the test rewrote with their own content: identical, but new extents (the known false positives). */
  sameBytesRewritten: number;
}

/** Block volume: raw writes through the published device, and a discard (the loop device punches a hole). */
async function blockScenario(device: string): Promise<Change> {
  await writeAt(device, 0, randomBytes(64 * 1024));
  await writeAt(device, 2 * MiB, randomBytes(1 * MiB));
  await writeAt(device, 9 * MiB + 8 * 1024, randomBytes(40 * 1024));
  await writeAt(device, 40 * MiB, randomBytes(1 * MiB));
  const same = 16 * 1024;
  return {
    sameBytesRewritten: same,
    async change() {
      await writeAt(device, 3 * BLOCK, randomBytes(BLOCK)); // overwrite one block
      await writeAt(device, 2 * MiB + 100 * 1024, randomBytes(20 * 1024)); // overwrite inside a run
      await writeAt(device, 20 * MiB, randomBytes(256 * 1024)); // new blocks
      await writeAt(device, 9 * MiB + 8 * 1024, await readAt(device, 9 * MiB + 8 * 1024, same)); // same bytes again
      await run('blkdiscard', ['--offset', String(40 * MiB), '--length', String(512 * 1024), device], { timeoutMs: 30_000 });
    },
  };
}

/** Filesystem volume: files written, one overwritten in the middle, one new, one deleted and trimmed. */
async function filesystemScenario(mountPath: string): Promise<Change> {
  const write = async (name: string, data: Buffer, offset = 0) => {
    const fd = await open(join(mountPath, name), 'a+');
    await fd.close();
    await writeAt(join(mountPath, name), offset, data);
  };
  await write('kept.bin', randomBytes(4 * MiB));
  await write('deleted.bin', randomBytes(2 * MiB));
  return {
    sameBytesRewritten: 0,
    async change() {
      await write('kept.bin', randomBytes(64 * 1024), 1 * MiB);
      await write('new.bin', randomBytes(3 * MiB));
      await run('rm', ['-f', '--', join(mountPath, 'deleted.bin')], { timeoutMs: 10_000 });
      await run('sync', ['-f', mountPath], { timeoutMs: 30_000 });
      await run('fstrim', [mountPath], { timeoutMs: 60_000 });
    },
  };
}

for (const kind of ['block', 'ext4'] as VolumeKind[]) {
  test(`${kind} volume: the delta covers every byte that differs between the two snapshot images`, async (t) => {
    const c = await startCluster(t);
    const meta = metadataClient(t, c.controller.socketPath);
    const size = 64 * MiB;
    const v = await provision(c, `meta-${kind}`, kind, size);
    const scenario = kind === 'block' ? await blockScenario(v.target) : await filesystemScenario(v.target);
    const base = await snapshot(c, `meta-${kind}-a`, v.volumeId);
    await scenario.change();
    const target = await snapshot(c, `meta-${kind}-b`, v.volumeId);

    const answer = await collect(meta, 'GetMetadataDelta', { base_snapshot_id: base, target_snapshot_id: target });
    for (const m of answer) {
      assert.equal(m.block_metadata_type, 'VARIABLE_LENGTH');
      assert.equal(Number(m.volume_capacity_bytes), size);
    }
    const delta = rangesOf(answer);
    assertWellFormed(delta, size);

    const differing = await differingBlocks(snapshotImage(c, base), snapshotImage(c, target));
    assert.ok(differing.length > 0, 'the scenario changed something');
    const missed = differing.filter((b) => !covered(delta, b));
    assert.deepEqual(missed, [], 'every differing 4 KiB block lies inside a returned range (no false negative)');

    // False positives: reported bytes that are identical in both images.
    const differingBytes = differing.length * BLOCK;
    const falsePositive = total(delta) - differingBytes;
    t.diagnostic(
      `${kind}: ${differingBytes} bytes differ, ${total(delta)} reported in ${delta.length} ranges; ` +
        `${falsePositive} reported but identical (${scenario.sameBytesRewritten} rewritten with the same bytes on purpose)`,
    );
    // Extent granularity: identical bytes are reported only where a block was written again
    // (CoW gave it a new address): the test's same-bytes rewrite, plus blocks the filesystem
    // inside rewrote with equal content (its journal and bitmaps), bounded here to 1 MiB.
    assert.ok(falsePositive <= scenario.sameBytesRewritten + 1 * MiB, `false positives ${falsePositive} within the bound`);
    if (kind === 'block') {
      assert.ok(falsePositive >= scenario.sameBytesRewritten, 'the same-bytes rewrite is reported: extents, not data, decide');
    }

    // The image compared with itself: nothing changed.
    assert.deepEqual(rangesOf(await collect(meta, 'GetMetadataDelta', { base_snapshot_id: target, target_snapshot_id: target })), []);

    // Allocated: every non-zero block of the target image is inside a returned range, and no more is
    // returned than the image holds.
    const allocated = rangesOf(await collect(meta, 'GetMetadataAllocated', { snapshot_id: target }));
    assertWellFormed(allocated, size);
    const nonZero = await nonZeroBlocks(snapshotImage(c, target));
    assert.deepEqual(
      nonZero.filter((b) => !covered(allocated, b)),
      [],
      'every non-zero block is allocated',
    );
    const held = (await stat(snapshotImage(c, target))).blocks * 512;
    assert.ok(total(allocated) <= held, `allocated ${total(allocated)} ≤ the image's blocks ${held}`);
    t.diagnostic(`${kind}: ${nonZero.length * BLOCK} non-zero bytes, ${total(allocated)} allocated in ${allocated.length} ranges`);

    for (const id of [base, target]) await call(c.ctl.controller, 'DeleteSnapshot', { snapshot_id: id });
    await teardown(c, v);
    await assertNoHostState(c);
  });
}

test('pagination: max_results bounds every message, and a resumed call continues where the first stopped', async (t) => {
  const c = await startCluster(t);
  const meta = metadataClient(t, c.controller.socketPath);
  const v = await provision(c, 'meta-pages', 'block', 64 * MiB);
  // Eleven separate runs, then every other one rewritten: many ranges in both answers.
  for (let k = 0; k < 11; k++) await writeAt(v.target, k * 2 * MiB, randomBytes(64 * 1024));
  const base = await snapshot(c, 'pages-a', v.volumeId);
  for (let k = 0; k < 11; k += 2) await writeAt(v.target, k * 2 * MiB + 4096, randomBytes(8192));
  const target = await snapshot(c, 'pages-b', v.volumeId);

  for (const [method, req] of [
    ['GetMetadataDelta', { base_snapshot_id: base, target_snapshot_id: target }],
    ['GetMetadataAllocated', { snapshot_id: target }],
  ] as const) {
    const whole = rangesOf(await collect(meta, method, req));
    assert.ok(whole.length >= 6, `${method}: enough ranges to page (${whole.length})`);

    const paged = await collect(meta, method, { ...req, max_results: 2 });
    for (const m of paged) assert.ok(m.block_metadata.length <= 2, `${method}: at most max_results per message`);
    assert.equal(paged.length, Math.ceil(whole.length / 2));
    assert.deepEqual(rangesOf(paged), whole, `${method}: the pages together are the one-shot answer`);

    // An interrupted client: one message, then a new call from the end of what it got.
    const first = rangesOf(await collect(meta, method, { ...req, max_results: 3 }, { firstOnly: true }));
    assert.equal(first.length, 3);
    const last = first[first.length - 1]!;
    const rest = rangesOf(await collect(meta, method, { ...req, max_results: 3, starting_offset: last.offset + last.length }));
    assert.deepEqual([...first, ...rest], whole, `${method}: resumed answers join to the one-shot answer`);

    // From the middle of a range: the answer begins exactly there.
    const mid = whole[1]!.offset + BLOCK;
    const fromMid = rangesOf(await collect(meta, method, { ...req, starting_offset: mid }));
    assert.deepEqual(fromMid[0], { offset: mid, length: whole[1]!.length - BLOCK });
    assert.deepEqual(fromMid.slice(1), whole.slice(2));
  }

  for (const id of [base, target]) await call(c.ctl.controller, 'DeleteSnapshot', { snapshot_id: id });
  await teardown(c, v);
});

test('errors per the CSI spec, secrets scrubbed, and the capability only where the service is', async (t) => {
  const c = await startCluster(t);
  const meta = metadataClient(t, c.controller.socketPath);
  const size = 16 * MiB;
  const a = await createVolume(c, 'meta-err-a', 'block', size);
  const b = await createVolume(c, 'meta-err-b', 'block', size);
  const snapA = await snapshot(c, 'err-a', a);
  const snapB = await snapshot(c, 'err-b', b);

  const expect: [string, 'GetMetadataAllocated' | 'GetMetadataDelta', Record<string, unknown>, grpc.status][] = [
    ['missing snapshot_id', 'GetMetadataAllocated', {}, grpc.status.INVALID_ARGUMENT],
    ['unknown snapshot', 'GetMetadataAllocated', { snapshot_id: 'snap-aaaaaaaaaaaaaaaaaaaa' }, grpc.status.NOT_FOUND],
    ['malformed snapshot ID', 'GetMetadataAllocated', { snapshot_id: '../../etc' }, grpc.status.NOT_FOUND],
    // The request bounds apply to streams too: an oversized ID is refused before it is parsed (else NOT_FOUND).
    ['oversized snapshot ID', 'GetMetadataAllocated', { snapshot_id: `snap-${'a'.repeat(200)}` }, grpc.status.INVALID_ARGUMENT],
    ['offset at the size', 'GetMetadataAllocated', { snapshot_id: snapA, starting_offset: size }, grpc.status.OUT_OF_RANGE],
    ['negative offset', 'GetMetadataAllocated', { snapshot_id: snapA, starting_offset: -1 }, grpc.status.INVALID_ARGUMENT],
    ['negative max_results', 'GetMetadataAllocated', { snapshot_id: snapA, max_results: -1 }, grpc.status.INVALID_ARGUMENT],
    ['missing base', 'GetMetadataDelta', { target_snapshot_id: snapA }, grpc.status.INVALID_ARGUMENT],
    ['missing target', 'GetMetadataDelta', { base_snapshot_id: snapA }, grpc.status.INVALID_ARGUMENT],
    [
      'unknown base',
      'GetMetadataDelta',
      { base_snapshot_id: 'snap-aaaaaaaaaaaaaaaaaaaa', target_snapshot_id: snapA },
      grpc.status.NOT_FOUND,
    ],
    ['snapshots of two volumes', 'GetMetadataDelta', { base_snapshot_id: snapA, target_snapshot_id: snapB }, grpc.status.INVALID_ARGUMENT],
    [
      'offset past the size',
      'GetMetadataDelta',
      { base_snapshot_id: snapA, target_snapshot_id: snapA, starting_offset: size + 1 },
      grpc.status.OUT_OF_RANGE,
    ],
  ];
  for (const [what, method, req, code] of expect) {
    await t.test(what, async () => {
      await rejectsWithCode(collect(meta, method, req), code);
    });
  }

  // Secrets travel in these requests: they never reach the answer or the log (the wire test
  // wire-streaming.test.ts checks the scrubbing of a handler that echoes them).
  const secret = 'TOPSECRET-meta-9f2';
  const unknown = 'snap-aaaaaaaaaaaaaaaaaaab';
  const err = (await collect(meta, 'GetMetadataAllocated', { snapshot_id: unknown, secrets: { token: secret } }).then(
    () => assert.fail('an unknown snapshot must fail'),
    (e: grpc.ServiceError) => e,
  )) as grpc.ServiceError;
  assert.equal(err.code, grpc.status.NOT_FOUND);
  assert.ok(!err.details.includes(secret), `the answer is scrubbed: ${err.details}`);
  // The rpc line is written after the answer: wait for it before reading the log.
  await c.controller.waitForOutput(new RegExp(`"method":"GetMetadataAllocated"[^\\n]*"snapshot_id":"${unknown}"`), 10_000);
  assert.ok(!(c.controller.stdout() + c.controller.stderr()).includes(secret), 'the log holds no secret');

  // Advertised by the process that serves it (a controller with the pool), not by the node plugin.
  const types = async (clients: Cluster['ctl']) =>
    (await call(clients.identity, 'GetPluginCapabilities', {})).capabilities!.map((x) => x.service?.type);
  assert.ok((await types(c.ctl)).includes('SNAPSHOT_METADATA_SERVICE'));
  assert.ok(!(await types(c.nodeClients)).includes('SNAPSHOT_METADATA_SERVICE'));
  await rejectsWithCode(
    collect(metadataClient(t, c.node.socketPath), 'GetMetadataAllocated', { snapshot_id: snapA }),
    grpc.status.UNIMPLEMENTED,
  );

  for (const id of [snapA, snapB]) await call(c.ctl.controller, 'DeleteSnapshot', { snapshot_id: id });
  for (const id of [a, b]) await deleteVolume(c, id);
});

test('a pool without reflinks answers the delta FAILED_PRECONDITION and still reports allocated blocks', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 1 * GiB });
  const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
  const meta = metadataClient(t, q.socketPath);
  const vol = (
    await call(q.clients.controller, 'CreateVolume', {
      name: 'meta-ext4-pool',
      capacity_range: { required_bytes: 16 * MiB },
      volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
    })
  ).volume!.volume_id!;
  await writeAt(join(fs.mountPath, 'pool', 'volumes', `${vol}.img`), 1 * MiB, randomBytes(64 * 1024));
  const snap = (await call(q.clients.controller, 'CreateSnapshot', { name: 'meta-ext4-snap', source_volume_id: vol })).snapshot!
    .snapshot_id!;
  await rejectsWithCode(
    collect(meta, 'GetMetadataDelta', { base_snapshot_id: snap, target_snapshot_id: snap }),
    grpc.status.FAILED_PRECONDITION,
  );
  assert.deepEqual(rangesOf(await collect(meta, 'GetMetadataAllocated', { snapshot_id: snap })), [{ offset: 1 * MiB, length: 64 * 1024 }]);
  await call(q.clients.controller, 'DeleteSnapshot', { snapshot_id: snap });
  await call(q.clients.controller, 'DeleteVolume', { volume_id: vol });
});

/** The chaos suite's seeded generator (mulberry32): the same writes every run. */
const rng = (seed: number): (() => number) => seededRng(seed).next;

for (const poolFs of ['xfs', 'btrfs'] as const) {
  test(`${poolFs} pool: over three snapshots of random changes, every delta covers the byte-by-byte difference`, async (t) => {
    const fs = await makeScratchFs(t, { fsType: poolFs, sizeBytes: 2 * GiB });
    const poolPath = join(fs.mountPath, 'pool');
    const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: poolPath });
    const meta = metadataClient(t, q.socketPath);
    const size = 32 * MiB;
    const vol = (
      await call(q.clients.controller, 'CreateVolume', {
        name: `meta-random-${poolFs}`,
        capacity_range: { required_bytes: size },
        volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
      })
    ).volume!.volume_id!;
    // The volume is not attached: the test writes its image as the loop device would.
    const image = join(poolPath, 'volumes', `${vol}.img`);
    const rand = rng(poolFs === 'xfs' ? 7 : 8);
    const at = (max: number) => Math.floor(rand() * max);
    const snaps: string[] = [];
    // Per round, the blocks where a write may have left the bytes as they were: rewrites of the same
    // bytes, and zeroing (punch or zero-range), which may hit zeros. Only there may a delta report
    // identical bytes.
    const maySame: Set<number>[] = [];
    for (let round = 0; round < 3; round++) {
      const touched = new Set<number>();
      maySame.push(touched);
      for (let k = 0; k < 40; k++) {
        const kind = rand();
        const len = 1 + at(192 * 1024);
        const off = at(size - len);
        if (kind >= 0.6) for (let b = Math.floor(off / BLOCK); b <= Math.floor((off + len - 1) / BLOCK); b++) touched.add(b);
        if (kind < 0.6) {
          await writeAt(image, off, randomBytes(len)); // any length, any offset: partial blocks too
        } else if (kind < 0.75) {
          await writeAt(image, off, await readAt(image, off, len)); // the same bytes again
        } else if (kind < 0.9) {
          await run('fallocate', ['--punch-hole', '--offset', String(off), '--length', String(len), image], { timeoutMs: 10_000 });
        } else {
          await run('fallocate', ['--zero-range', '--offset', String(off), '--length', String(len), image], { timeoutMs: 10_000 });
        }
      }
      snaps.push(
        (await call(q.clients.controller, 'CreateSnapshot', { name: `meta-random-${poolFs}-${round}`, source_volume_id: vol })).snapshot!
          .snapshot_id!,
      );
    }
    const img = (id: string) => join(poolPath, 'snapshots', `${id}.img`);
    for (const [i, j] of [
      [0, 1],
      [1, 2],
      [0, 2],
      [2, 0],
    ] as const) {
      const [base, target] = [snaps[i]!, snaps[j]!];
      const delta = rangesOf(await collect(meta, 'GetMetadataDelta', { base_snapshot_id: base, target_snapshot_id: target }));
      assertWellFormed(delta, size);
      const differing = await differingBlocks(img(base), img(target));
      assert.ok(differing.length > 0);
      assert.deepEqual(
        differing.filter((b) => !covered(delta, b)),
        [],
        `${base} → ${target}: no differing block outside the delta`,
      );
      // False positives: reported blocks that are identical, each one where the test may have written the same bytes.
      const diff = new Set(differing);
      const allowed = new Set(maySame.slice(Math.min(i, j) + 1, Math.max(i, j) + 1).flatMap((x) => [...x]));
      const identical: number[] = [];
      for (const r of delta) for (let b = r.offset / BLOCK; b < (r.offset + r.length) / BLOCK; b++) if (!diff.has(b)) identical.push(b);
      assert.deepEqual(
        identical.filter((b) => !allowed.has(b)),
        [],
        'identical bytes are reported only where the same bytes (or zeros) were written',
      );
      t.diagnostic(
        `${poolFs} snapshot ${i} → ${j}: ${differing.length * BLOCK} bytes differ, ${total(delta)} reported, ` +
          `${identical.length * BLOCK} of them identical (all in blocks rewritten with the same bytes or zeroed)`,
      );
    }
    const allocated = rangesOf(await collect(meta, 'GetMetadataAllocated', { snapshot_id: snaps[2]! }));
    const nonZero = await nonZeroBlocks(img(snaps[2]!));
    assert.deepEqual(
      nonZero.filter((b) => !covered(allocated, b)),
      [],
      'every non-zero block is allocated',
    );
    for (const id of snaps) await call(q.clients.controller, 'DeleteSnapshot', { snapshot_id: id });
    await call(q.clients.controller, 'DeleteVolume', { volume_id: vol });
  });
}
