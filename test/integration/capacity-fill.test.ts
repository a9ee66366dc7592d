// Capacity never lies (design: Capacity): on small real pools, thin volumes created up to the
// promise are each filled to their size with fsync, and a snapshotted volume is overwritten in
// full, without one write failing for lack of space.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { call, type CsiClients } from '../helpers/grpc-client.js';
import { makeScratchFs, onCleanup, type HasAfter } from '../helpers/scratch.js';
import { startQuarryOnPool } from '../helpers/snapshot-harness.js';

const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
const CHUNK = 4 * MiB;

/** Stages and publishes a block volume; returns the published device path and its release (also run after the test). */
async function publishBlock(
  t: HasAfter,
  q: CsiClients,
  volumeId: string,
  dir: string,
): Promise<{ device: string; release(): Promise<void> }> {
  const staging = join(dir, `staging-${volumeId}`);
  const target = join(dir, `target-${volumeId}`);
  await mkdir(staging, { recursive: true });
  await call(
    q.node,
    'NodeStageVolume',
    { volume_id: volumeId, staging_target_path: staging, volume_capability: BLOCK },
    { timeoutMs: 60_000 },
  );
  await call(q.node, 'NodePublishVolume', {
    volume_id: volumeId,
    staging_target_path: staging,
    target_path: target,
    volume_capability: BLOCK,
    readonly: false,
  });
  const release = async () => {
    await call(q.node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: target });
    await call(q.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging }, { timeoutMs: 60_000 });
  };
  onCleanup(t, release);
  return { device: target, release };
}

/** Writes every byte of the device with data that does not compress or dedupe, then fsyncs. */
async function fillDevice(path: string, size: number): Promise<void> {
  const buf = Buffer.alloc(CHUNK);
  const fd = await open(path, 'r+');
  try {
    for (let off = 0; off < size; off += CHUNK) {
      randomFillSync(buf);
      await fd.write(buf, 0, Math.min(CHUNK, size - off), off);
    }
    await fd.sync();
  } finally {
    await fd.close();
  }
}

const available = async (q: CsiClients) => Number((await call(q.controller, 'GetCapacity', {})).available_capacity);

const POOLS = [
  { fsType: 'xfs' as const, reflink: false, label: 'xfs without reflink' },
  { fsType: 'xfs' as const, reflink: true, label: 'xfs with reflink' },
  { fsType: 'ext4' as const, reflink: false, label: 'ext4' },
];

for (const p of POOLS) {
  describe(`capacity on a 1 GiB ${p.label} pool`, () => {
    test('thin volumes created up to the promise are all filled to their size, and a snapshotted volume fully overwritten, with no write error', async (t) => {
      const fs = await makeScratchFs(t, { fsType: p.fsType, sizeBytes: GiB, reflink: p.reflink });
      const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
      const create = async (name: string, size: number) =>
        (await call(q.clients.controller, 'CreateVolume', { name, capacity_range: { required_bytes: size }, volume_capabilities: [BLOCK] }))
          .volume!.volume_id!;

      // A volume with data, and a snapshot of it: overwriting it later needs space nobody else may take.
      // (A raw block volume in use cannot be snapshotted consistently on a pool without reflinks, so it is released first.)
      const first = await create('snapped', 128 * MiB);
      const firstPub = await publishBlock(t, q.clients, first, fs.dir);
      await fillDevice(firstPub.device, 128 * MiB);
      await firstPub.release();
      await call(q.clients.controller, 'CreateSnapshot', { name: 'snap', source_volume_id: first }, { timeoutMs: 60_000 });

      // Promise everything that is left, in volumes of at most 192 MiB.
      const thin: Array<{ id: string; size: number }> = [];
      for (let left = await available(q.clients); left >= MiB; left = await available(q.clients)) {
        const size = Math.min(left, 192 * MiB);
        thin.push({ id: await create(`thin-${thin.length}`, size), size });
      }
      const promised = 128 * MiB + thin.reduce((a, v) => a + v.size, 0);
      assert.ok(promised >= 600 * MiB, `the pool promised only ${promised / MiB} MiB of 1 GiB: the test would prove nothing`);

      for (const v of thin) await fillDevice((await publishBlock(t, q.clients, v.id, fs.dir)).device, v.size);
      await fillDevice((await publishBlock(t, q.clients, first, fs.dir)).device, 128 * MiB);
    });
  });
}
