import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileIn, poolSubdirs } from '../../src/storage/pool-dir.js';

test('fileIn gives what path.join gives for a pool directory and an ID-made name', () => {
  for (const root of ['/var/lib/quarry/pool', '/var/lib/quarry/pool/', '/p//x/../q']) {
    const dirs = poolSubdirs(root);
    for (const name of ['vol-0123abcd.json', 'vol-0123abcd.img.partial', '.vol-1.json.0a0b0c0d0e0f.tmp']) {
      assert.equal(fileIn(dirs.volumes, name), join(dirs.volumes, name));
    }
  }
});

test('fileIn refuses a name with a slash instead of leaving the directory', () => {
  assert.throws(() => fileIn('/pool/volumes', '../x.json'), /has a slash/);
  assert.throws(() => fileIn('/pool/volumes', 'a/b.img'), /has a slash/);
});
