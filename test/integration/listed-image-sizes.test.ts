/** ListedImageSizes: image sizes kept while the pool generation stands, and never longer than a listing's records. */
import assert from 'node:assert/strict';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ListedImageSizes } from '../../src/storage/listed-image-sizes.js';
import { LISTING_TTL_MS } from '../../src/storage/record-store.js';
import { makeTempDir } from '../helpers/scratch.js';

test('sizes are measured again at a new generation, after LISTING_TTL_MS, and always without a generation', async (t) => {
  const dir = await makeTempDir(t, 'sizes');
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  await writeFile(a, Buffer.alloc(100));
  await writeFile(b, Buffer.alloc(200));
  let clock = 1_000_000;
  const kept = new ListedImageSizes(() => clock);
  const pathOf = (id: string) => join(dir, `${id}.img`);
  const sizes = (g: bigint | undefined, ids: string[]) => kept.sizes(g, ids, pathOf);
  assert.deepEqual(sizes(7n, ['a', 'b']), [100, 200]);

  await truncate(a, 50);
  await rm(b);
  assert.deepEqual(sizes(7n, ['a', 'b']), [100, 200], 'same generation, inside the TTL: as measured');
  assert.deepEqual(sizes(undefined, ['a', 'b']), [50, undefined], 'no generation: measured now');
  assert.deepEqual(sizes(8n, ['a', 'b']), [50, undefined], 'a new generation: measured now');

  await truncate(a, 70);
  clock += LISTING_TTL_MS - 1;
  assert.deepEqual(sizes(8n, ['a']), [50], 'just inside the TTL');
  clock += 1;
  assert.deepEqual(sizes(8n, ['a']), [70], 'at the TTL: measured again');
});
