import assert from 'node:assert/strict';
import { open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { GiB, MiB, bytes } from '../../src/domain/bytes.js';
import { Code, QuarryError } from '../../src/domain/errors.js';
import type { FsType } from '../../src/domain/volume.js';
import { loopSizeBytes } from '../../src/host/blockdev.js';
import { CAP_SYS_RESOURCE, hasCapability } from '../../src/host/capabilities.js';
import { probeReflink, reflinkCopy, sparseCopy } from '../../src/host/copy.js';
import { allocatedBytes, preallocate } from '../../src/host/fallocate.js';
import { freeze, thaw } from '../../src/host/fsfreeze.js';
import { refreshLoopCapacity } from '../../src/host/losetup.js';
import { growFilesystem } from '../../src/host/resize.js';
import { filesystemStats } from '../../src/host/statfs.js';
import { leakCheck, makeScratchFs, makeTempDir, onCleanup } from '../helpers/scratch.js';
import { sha256File } from '../helpers/sha256.js';

const isCode = (code: Code) => (e: unknown) => e instanceof QuarryError && e.code === code;

/** Writes `len` bytes of non-zero data at each offset of a file. */
async function writeAt(path: string, offsets: number[], len: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const buf = Buffer.alloc(len, 0xab);
    for (const off of offsets) await fh.write(buf, 0, len, off);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

for (const fsType of ['ext4', 'xfs', 'btrfs'] as FsType[]) {
  test(`grow ${fsType} online after growing the image and losetup -c`, async (t) => {
    if (fsType === 'ext4' && !(await hasCapability(CAP_SYS_RESOURCE))) {
      // The kernel's ext4 online resize (EXT4_IOC_RESIZE_FS) demands CAP_SYS_RESOURCE; check the error is clear.
      const fs = await makeScratchFs(t, { fsType, sizeBytes: 64 * MiB });
      await truncate(fs.imagePath, 128 * MiB);
      await refreshLoopCapacity(fs.device);
      await assert.rejects(
        growFilesystem(fsType, fs.device, fs.mountPath),
        (e: unknown) => isCode(Code.FAILED_PRECONDITION)(e) && /CAP_SYS_RESOURCE/.test(String(e)),
      );
      t.skip('this process lacks CAP_SYS_RESOURCE, which ext4 online resize needs');
      return;
    }
    const fs = await makeScratchFs(t, { fsType, sizeBytes: 400 * MiB });
    const before = await filesystemStats(fs.mountPath);
    assert.ok(before.totalBytes <= 400 * MiB);
    await truncate(fs.imagePath, GiB);
    await refreshLoopCapacity(fs.device);
    assert.equal(await loopSizeBytes(fs.device), GiB);
    await growFilesystem(fsType, fs.device, fs.mountPath);
    const after = await filesystemStats(fs.mountPath);
    assert.ok(after.totalBytes > 900 * MiB, `${fsType} total ${after.totalBytes} after grow`);
    assert.ok(after.availableBytes > before.availableBytes);
  });
}

test('statfs reports bytes and inodes', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 64 * MiB });
  const s = await filesystemStats(fs.mountPath);
  assert.ok(s.totalBytes > 50 * MiB && s.totalBytes <= 64 * MiB);
  assert.ok(s.availableBytes <= s.totalBytes);
  assert.equal(s.usedBytes + (s.totalBytes - s.usedBytes), s.totalBytes);
  assert.ok(s.totalInodes > 0 && s.freeInodes <= s.totalInodes && s.usedInodes >= 1);
  await assert.rejects(filesystemStats(join(fs.mountPath, 'nope')), isCode(Code.NOT_FOUND));
});

test('reflink probe: true on xfs with reflink and on btrfs, false on ext4 and xfs without', async (t) => {
  const [xfs, btrfs, ext4, xfsNo] = await Promise.all([
    makeScratchFs(t, { fsType: 'xfs' }),
    makeScratchFs(t, { fsType: 'btrfs', sizeBytes: 256 * MiB }),
    makeScratchFs(t, { fsType: 'ext4', sizeBytes: 64 * MiB }),
    makeScratchFs(t, { fsType: 'xfs', reflink: false }),
  ]);
  assert.equal(await probeReflink(xfs.mountPath), true);
  assert.equal(await probeReflink(btrfs.mountPath), true);
  assert.equal(await probeReflink(ext4.mountPath), false);
  assert.equal(await probeReflink(xfsNo.mountPath), false);
  await assert.rejects(reflinkCopy(join(ext4.mountPath, 'lost+found'), join(ext4.mountPath, 'x')), QuarryError);
});

for (const fsType of ['xfs', 'btrfs'] as FsType[]) {
  test(`reflinkCopy on ${fsType} shares data: same content, no new space`, async (t) => {
    const fs = await makeScratchFs(t, { fsType, sizeBytes: 512 * MiB });
    const src = join(fs.mountPath, 'src.img');
    const dst = join(fs.mountPath, 'dst.img');
    await writeFile(src, '');
    await truncate(src, GiB);
    await writeAt(src, [0, 100 * MiB, 900 * MiB], 16 * MiB);
    const freeBefore = (await filesystemStats(fs.mountPath)).availableBytes;
    await reflinkCopy(src, dst);
    const freeAfter = (await filesystemStats(fs.mountPath)).availableBytes;
    assert.ok(freeBefore - freeAfter < 8 * MiB, `reflink used ${(freeBefore - freeAfter) / MiB} MiB`);
    assert.equal(await sha256File(dst), await sha256File(src));
  });
}

test('reflinkCopy on ext4 is FAILED_PRECONDITION', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 64 * MiB });
  const src = join(fs.mountPath, 'a');
  await writeFile(src, 'data');
  await assert.rejects(reflinkCopy(src, join(fs.mountPath, 'b')), isCode(Code.FAILED_PRECONDITION));
});

test('sparseCopy keeps holes: 1 GiB sparse file with a few MiB of data', async (t) => {
  const dir = await makeTempDir(t, 'sparse');
  const src = join(dir, 'src.img');
  const dst = join(dir, 'dst.img');
  await writeFile(src, '');
  await truncate(src, GiB);
  await writeAt(src, [0, 300 * MiB, GiB - MiB], MiB);
  const srcAlloc = await allocatedBytes(src);
  await sparseCopy(src, dst);
  const dstAlloc = await allocatedBytes(dst);
  assert.ok(srcAlloc >= 3 * MiB);
  assert.ok(dstAlloc <= srcAlloc + MiB, `copy allocates ${dstAlloc}, source ${srcAlloc}`);
  assert.equal(await sha256File(dst), await sha256File(src));
});

test('preallocate allocates; disk full is RESOURCE_EXHAUSTED', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 64 * MiB });
  const thick = join(fs.mountPath, 'thick.img');
  await preallocate(thick, bytes(16 * MiB));
  assert.ok((await allocatedBytes(thick)) >= 16 * MiB);
  await assert.rejects(preallocate(join(fs.mountPath, 'huge.img'), bytes(GiB)), isCode(Code.RESOURCE_EXHAUSTED));
  await assert.rejects(allocatedBytes(join(fs.mountPath, 'none')), isCode(Code.NOT_FOUND));
});

test('freeze blocks writes until thaw; both are idempotent', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  let frozen = false;
  onCleanup(t, () => (frozen ? thaw(fs.mountPath) : undefined)); // never leave a frozen fs behind
  await freeze(fs.mountPath);
  frozen = true;
  await freeze(fs.mountPath);
  let written = false;
  const write = writeFile(join(fs.mountPath, 'f'), 'x').then(() => {
    written = true;
  });
  await sleep(300);
  assert.equal(written, false, 'a write to a frozen filesystem must block');
  await thaw(fs.mountPath);
  frozen = false;
  await write;
  assert.equal(written, true);
  await thaw(fs.mountPath);
});

test('nothing leaked', async () => {
  assert.deepEqual(await leakCheck(), { loops: [], mounts: [] });
});
