// Overcommit is an opt-in that warns before writes can fail (design: Capacity): under the
// low-space threshold, a thin volume's condition turns abnormal and the pool metrics say so.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MiB } from '../../src/domain/bytes.js';
import { readPoolStats } from '../../src/metrics/pool-collector.js';
import { ImagePool } from '../../src/storage/image-pool.js';
import { call } from '../helpers/grpc-client.js';
import { startQuarry } from '../helpers/quarry-process.js';
import { makeScratchFs, onCleanup } from '../helpers/scratch.js';

const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

test('an overcommitted pool under its low-space threshold marks its thin volumes abnormal before writes fail', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 512 * MiB });
  const poolPath = join(fs.mountPath, 'pool');
  await mkdir(poolPath);
  const q = await startQuarry(t, {
    role: 'all',
    dir: fs.dir,
    args: ['--nodeid', 'n1', '--pool', poolPath, '--log-level', 'warn', '--overprovisioning', '4', '--low-space-percent', '50'],
  });
  const vol = (
    await call(q.clients.controller, 'CreateVolume', {
      name: 'big',
      capacity_range: { required_bytes: 1024 * MiB },
      volume_capabilities: [BLOCK],
    })
  ).volume!;
  const staging = join(fs.dir, 'staging');
  const target = join(fs.dir, 'target');
  await mkdir(staging);
  await call(q.clients.node, 'NodeStageVolume', { volume_id: vol.volume_id, staging_target_path: staging, volume_capability: BLOCK });
  await call(q.clients.node, 'NodePublishVolume', {
    volume_id: vol.volume_id,
    staging_target_path: staging,
    target_path: target,
    volume_capability: BLOCK,
    readonly: false,
  });
  onCleanup(t, async () => {
    await call(q.clients.node, 'NodeUnpublishVolume', { volume_id: vol.volume_id, target_path: target });
    await call(q.clients.node, 'NodeUnstageVolume', { volume_id: vol.volume_id, staging_target_path: staging });
  });
  const condition = async () =>
    (await call(q.clients.node, 'NodeGetVolumeStats', { volume_id: vol.volume_id, volume_path: target })).volume_condition!;
  const pool = await ImagePool.open('default', poolPath, { overprovisioning: 4, lowSpaceFraction: 0.5 });

  assert.deepEqual(await condition(), { abnormal: false, message: 'volume is healthy' });
  assert.equal((await readPoolStats(pool)).spaceCondition, undefined);

  // Write until the pool's spare space is under half its filesystem: writes still succeed.
  const buf = Buffer.alloc(4 * MiB);
  const fd = await open(target, 'r+');
  try {
    for (let off = 0; off < 240 * MiB; off += buf.length) await fd.write(randomFillSync(buf), 0, buf.length, off);
    await fd.sync();
  } finally {
    await fd.close();
  }
  // The pool's condition is measured at most every 10 s (kubelet asks for every volume each minute): wait for a fresh one.
  let c = await condition();
  for (const deadline = Date.now() + 60_000; !c.abnormal && Date.now() < deadline; c = await condition())
    await new Promise((r) => setTimeout(r, 1000));
  assert.equal(c.abnormal, true);
  assert.match(c.message!, /pool default is low on space: \d+ bytes free.*threshold/);
  const stats = await readPoolStats(pool);
  assert.ok(stats.spaceCondition, 'the pool metric reports low space');
  assert.ok(stats.owedBytes > 700 * MiB, `owed ${stats.owedBytes}`);
  assert.ok(stats.spareBytes < 256 * MiB, `spare ${stats.spareBytes}`);
});
