// A record whose size is not a byte count must neither switch capacity checks off nor inflate
// capacity (design: Capacity): its image's real size is promised instead.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { bytes, MiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { ImagePool, type NewVolume } from '../../src/storage/image-pool.js';
import { makeScratchFs, onCleanup } from '../helpers/scratch.js';

const spec = (name: string, size: number): NewVolume => ({
  id: volumeIdForName(name),
  name,
  sizeBytes: bytes(size),
  fsType: 'ext4',
  provisioning: 'thin',
  accessTypes: ['mount'],
  requestKey: '{}',
  parameters: {},
});

for (const corrupt of ['"a lot"', '-1073741824', 'null', '1.5', '"64"']) {
  test(`a volume record with sizeBytes ${corrupt} keeps its image's size promised`, async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 512 * MiB });
    const corruptSeen: string[] = [];
    await mkdir(join(fs.mountPath, 'pool'));
    const pool = await ImagePool.open('default', join(fs.mountPath, 'pool'), {
      overprovisioning: 1,
      onCorruptRecord: (p) => corruptSeen.push(p),
    });
    onCleanup(t, () => pool.close()); // the pool holds its lock file open; the scratch filesystem unmounts after
    const v = await pool.createVolume(spec('victim', 128 * MiB));
    const honest = (await pool.capacity()).availableBytes;

    const path = join(pool.volumes.dir, `${v.id}.json`);
    await writeFile(path, (await readFile(path, 'utf8')).replace(/"sizeBytes":\s*\d+/, `"sizeBytes":${corrupt}`));
    const cap = await pool.capacity();
    assert.ok(Number.isFinite(cap.availableBytes), `available is a number: ${cap.availableBytes}`);
    assert.ok(cap.availableBytes <= honest, `available grew from ${honest} to ${cap.availableBytes}`);
    assert.ok(corruptSeen.length > 0, 'the corrupt record is reported');
    await assert.rejects(
      pool.withLock(() => pool.ensureRoom('vol-new', bytes(honest + MiB), false)),
      /no space to promise/,
    );
    await assert.rejects(pool.createVolume(spec('too-big', honest + MiB)), /no space to promise/);
  });
}

test('an image whose record is unreadable is still promised at its size', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 512 * MiB });
  await mkdir(join(fs.mountPath, 'pool'));
  const pool = await ImagePool.open('default', join(fs.mountPath, 'pool'), { overprovisioning: 1 });
  onCleanup(t, () => pool.close());
  const v = await pool.createVolume(spec('victim', 128 * MiB));
  const honest = (await pool.capacity()).availableBytes;
  await writeFile(join(pool.volumes.dir, `${v.id}.json`), '{ not json');
  assert.ok((await pool.capacity()).availableBytes <= honest);
});
