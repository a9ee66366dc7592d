// Snapshots and clones are never torn (design: Snapshots and clones). A writer fsyncs counter k to
// the first block of a file and then to its last block, over and over, so at every instant the
// disk holds last <= first. A copy that shows last > first holds a state no disk ever held.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { makeScratchFs, onCleanup } from '../helpers/scratch.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

const FILE = 192 * MiB;
const BLOCK = 4096;
const ROUNDS = 3;

function counterBlock(k: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(`${k}`.padStart(16, '0'));
  return b;
}

/** Fills the file with data (so a sparse copy of the image is slow), then keeps writing counters until stopped. */
async function startWriter(path: string) {
  const fd = await open(path, 'w+');
  const chunk = Buffer.alloc(4 * MiB);
  for (let off = 0; off < FILE; off += chunk.length) await fd.write(randomFillSync(chunk), 0, chunk.length, off);
  await fd.sync();
  let stop = false;
  let k = 0;
  const done = (async () => {
    while (!stop) {
      k++;
      await fd.write(counterBlock(k), 0, BLOCK, 0);
      await fd.sync();
      await fd.write(counterBlock(k), 0, BLOCK, FILE - BLOCK);
      await fd.sync();
    }
    await fd.close();
  })();
  return {
    get count() {
      return k;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function readCounters(path: string): Promise<{ first: number; last: number }> {
  const fd = await open(path, 'r');
  try {
    const b = Buffer.alloc(BLOCK);
    await fd.read(b, 0, BLOCK, 0);
    const first = Number(b.subarray(0, 16).toString());
    await fd.read(b, 0, BLOCK, FILE - BLOCK);
    return { first, last: Number(b.subarray(0, 16).toString()) };
  } finally {
    await fd.close();
  }
}

for (const pool of [
  { fsType: 'ext4' as const, reflink: false },
  { fsType: 'xfs' as const, reflink: false },
]) {
  describe(`copies of an in-use volume on a ${pool.fsType} pool without reflink`, () => {
    test('snapshots and clones taken under a running writer are never torn; a raw block volume in use is refused', async (t) => {
      const fs = await makeScratchFs(t, { fsType: pool.fsType, sizeBytes: 3 * GiB, reflink: pool.reflink });
      const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
      const c = q.clients.controller;
      const src = (
        await call(c, 'CreateVolume', {
          name: 'src',
          capacity_range: { required_bytes: 256 * MiB },
          volume_capabilities: [mountCapability('ext4')],
        })
      ).volume!;
      const pub = await stageAndPublish(t, q.clients, src.volume_id!, fs.dir);
      const writer = await startWriter(join(pub.targetPath, 'counter.bin'));
      let stopped = false;
      onCleanup(t, () => (stopped ? undefined : writer.stop()));

      const copies: string[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const before = writer.count;
        const snap = (await call(c, 'CreateSnapshot', { name: `snap-${i}`, source_volume_id: src.volume_id! }, { timeoutMs: 120_000 }))
          .snapshot!;
        const restored = (
          await call(
            c,
            'CreateVolume',
            {
              name: `restored-${i}`,
              volume_capabilities: [mountCapability()],
              volume_content_source: { snapshot: { snapshot_id: snap.snapshot_id! } },
            },
            { timeoutMs: 120_000 },
          )
        ).volume!;
        const clone = (
          await call(
            c,
            'CreateVolume',
            {
              name: `clone-${i}`,
              volume_capabilities: [mountCapability()],
              volume_content_source: { volume: { volume_id: src.volume_id! } },
            },
            { timeoutMs: 120_000 },
          )
        ).volume!;
        copies.push(restored.volume_id!, clone.volume_id!);
        assert.ok(writer.count > before, 'the writer kept writing while the copies were made');
      }
      await writer.stop();
      stopped = true;
      assert.ok(writer.count > 2 * ROUNDS, `writer made ${writer.count} rounds`);

      for (const id of copies) {
        const p = await stageAndPublish(t, q.clients, id, fs.dir);
        const { first, last } = await readCounters(join(p.targetPath, 'counter.bin'));
        await p.release();
        assert.ok(last <= first, `copy ${id} is torn: last block holds ${last}, first block ${first}`);
        assert.ok(first > 0, `copy ${id} holds the writer's data`);
      }

      // A raw block volume in use cannot be frozen, and this pool cannot reflink: refused, saying why.
      const BLOCK_CAP = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
      const raw = (
        await call(c, 'CreateVolume', { name: 'raw', capacity_range: { required_bytes: 64 * MiB }, volume_capabilities: [BLOCK_CAP] })
      ).volume!;
      const staging = join(fs.dir, 'raw-staging');
      await mkdir(staging);
      await call(q.clients.node, 'NodeStageVolume', {
        volume_id: raw.volume_id,
        staging_target_path: staging,
        volume_capability: BLOCK_CAP,
      });
      onCleanup(t, () => call(q.clients.node, 'NodeUnstageVolume', { volume_id: raw.volume_id, staging_target_path: staging }));
      await rejectsWithCode(
        call(c, 'CreateSnapshot', { name: 'raw-snap', source_volume_id: raw.volume_id! }),
        grpc.status.FAILED_PRECONDITION,
        /consistent snapshot.*in use.*cannot reflink/,
      );
      await rejectsWithCode(
        call(c, 'CreateVolume', {
          name: 'raw-clone',
          volume_capabilities: [BLOCK_CAP],
          volume_content_source: { volume: { volume_id: raw.volume_id! } },
        }),
        grpc.status.FAILED_PRECONDITION,
        /consistent clone/,
      );
      assert.equal(
        (await call(c, 'ListSnapshots', { source_volume_id: raw.volume_id! })).entries!.length,
        0,
        'a refused snapshot leaves nothing',
      );
    });
  });
}
