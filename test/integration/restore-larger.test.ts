// A restore into a larger volume: its filesystem grows on first stage (ext4 offline before mounting, btrfs online).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { makeScratchFs } from '../helpers/scratch.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

const SIZE = 512 * MiB;

for (const fsType of ['ext4', 'btrfs'] as const) {
  it(`${fsType}: a snapshot of a mounted volume restores into twice the size, data intact and filesystem grown`, async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 4 * GiB });
    const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
    const c = q.clients.controller;
    const params = { 'csi.storage.k8s.io/fstype': fsType };
    const src = (
      await call(c, 'CreateVolume', {
        name: 'src',
        capacity_range: { required_bytes: SIZE },
        volume_capabilities: [mountCapability()],
        parameters: params,
      })
    ).volume!;
    const a = await stageAndPublish(t, q.clients, src.volume_id!, fs.dir);
    const data = randomBytes(8 * MiB);
    await writeFile(join(a.targetPath, 'data.bin'), data, { flush: true });
    // Taken while mounted: crash-consistent, so the ext4 journal may need replaying before the grow.
    const snap = (await call(c, 'CreateSnapshot', { name: 'snap', source_volume_id: src.volume_id! }, { timeoutMs: 60_000 })).snapshot!;
    const restored = (
      await call(
        c,
        'CreateVolume',
        {
          name: 'restored',
          capacity_range: { required_bytes: 2 * SIZE },
          volume_capabilities: [mountCapability()],
          parameters: params,
          volume_content_source: { snapshot: { snapshot_id: snap.snapshot_id! } },
        },
        { timeoutMs: 60_000 },
      )
    ).volume!;
    assert.equal(Number(restored.capacity_bytes), 2 * SIZE);
    // With no size asked for, a restore is as large as its snapshot.
    const sameSize = (
      await call(
        c,
        'CreateVolume',
        {
          name: 'same-size',
          volume_capabilities: [mountCapability()],
          parameters: params,
          volume_content_source: { snapshot: { snapshot_id: snap.snapshot_id! } },
        },
        { timeoutMs: 60_000 },
      )
    ).volume!;
    assert.equal(Number(sameSize.capacity_bytes), SIZE);
    const b = await stageAndPublish(t, q.clients, restored.volume_id!, fs.dir);
    const grown = await statfs(b.targetPath);
    assert.ok(grown.blocks * grown.bsize > 1.5 * SIZE, `restored filesystem is ${grown.blocks * grown.bsize} bytes, volume ${2 * SIZE}`);
    const sum = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');
    assert.equal(sum(await readFile(join(b.targetPath, 'data.bin'))), sum(data));
    await b.release();
    await a.release();
  });
}
