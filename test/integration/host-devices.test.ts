import assert from 'node:assert/strict';
import { mkdir, open, rm, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { MiB } from '../../src/domain/bytes.js';
import { Code, QuarryError } from '../../src/domain/errors.js';
import type { FsType } from '../../src/domain/volume.js';
import { probeDevice } from '../../src/host/blkid.js';
import { loopSizeBytes } from '../../src/host/blockdev.js';
import { run } from '../../src/host/exec.js';
import { attachLoop, detachLoop, fileIdentity, findLoopsByBackingFile, listLoops } from '../../src/host/losetup.js';
import { backingFileShown, loopIsBackedBy, loopOfDeviceNode } from '../../src/host/loop-sysfs.js';
import { makeFilesystem } from '../../src/host/mkfs.js';
import { leakCheck, makeTempDir, onCleanup, type HasAfter } from '../helpers/scratch.js';

const isCode = (code: Code) => (e: unknown) => e instanceof QuarryError && e.code === code;

/** A sparse image attached to a loop device; detached after the test. */
async function scratchDevice(t: HasAfter, size = 400 * MiB, prepare?: (image: string) => Promise<void>) {
  const dir = await makeTempDir(t, 'dev');
  const image = join(dir, 'disk.img');
  await writeFile(image, '');
  await truncate(image, size);
  if (prepare) await prepare(image);
  const r = await attachLoop(image, { directIo: true });
  onCleanup(t, () => detachLoop(r.device)); // runs before the temp dir's removal
  return { image, ...r };
}

test('attach with direct I/O, find by backing file, detach', async (t) => {
  const { image, device, directIo } = await scratchDevice(t, 64 * MiB);
  assert.match(device, /^\/dev\/loop\d+$/);
  assert.equal(directIo, true, 'direct I/O on a file in os.tmpdir()');
  const found = await findLoopsByBackingFile(image);
  assert.deepEqual(
    found.map((l) => l.device),
    [device],
  );
  assert.equal(found[0]!.directIo, true);
  assert.equal(found[0]!.backingFileDeleted, false);
  assert.ok((await listLoops()).some((l) => l.device === device));
  assert.equal(await loopSizeBytes(device), 64 * MiB);
  await detachLoop(device);
  assert.deepEqual(await findLoopsByBackingFile(image), []);
  await detachLoop(device); // idempotent
});

test('read-only attach, and a deleted backing file is still found', async (t) => {
  const dir = await makeTempDir(t, 'ro');
  const image = join(dir, 'gone.img');
  await writeFile(image, '');
  await truncate(image, 16 * MiB);
  const { device } = await attachLoop(image, { readOnly: true });
  onCleanup(t, () => detachLoop(device));
  await rm(image);
  const found = await findLoopsByBackingFile(image);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.device, device);
  assert.equal(found[0]!.backingFileDeleted, true);
  assert.equal(found[0]!.readOnly, true);
});

/**
 * Attaches `image` from a private mount namespace through a bind mount of its directory, as an
 * earlier node-plugin pod would: the kernel then renders the backing file relative to that bind.
 */
async function attachFromOtherNamespace(t: HasAfter, dir: string, image: string): Promise<string> {
  const bind = join(dir, 'bind');
  await mkdir(bind);
  const script = 'mount --bind "$1" "$2" && exec losetup --find --show "$2/$3"';
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, bind, basename(image)]);
  const device = r.stdout.trim();
  assert.match(device, /^\/dev\/loop\d+$/);
  onCleanup(t, () => detachLoop(device));
  return device;
}

test('a loop attached in another mount namespace is found by device+inode, not by its path string', async (t) => {
  const dir = await makeTempDir(t, 'netns-loop');
  const image = join(dir, 'vol.img');
  await writeFile(image, '');
  await truncate(image, 16 * MiB);
  const device = await attachFromOtherNamespace(t, dir, image);
  const shown = await backingFileShown(device);
  assert.ok(shown, 'sysfs shows a backing file');
  assert.notEqual(shown.path, image, `the kernel renders another path for it here: ${shown.path}`);
  const listed = (await listLoops()).find((l) => l.device === device);
  assert.ok(listed?.backing, 'losetup reports the backing device and inode');
  assert.deepEqual(listed.backing, await fileIdentity(image));
  assert.deepEqual(
    (await findLoopsByBackingFile(image)).map((l) => l.device),
    [device],
  );
  assert.equal(await loopIsBackedBy(device, (await fileIdentity(image))!), true);
  // Another file is not this loop's backing file, whatever its name.
  const other = join(dir, 'other.img');
  await writeFile(other, '');
  assert.equal(await loopIsBackedBy(device, (await fileIdentity(other))!), false);
  assert.deepEqual(await findLoopsByBackingFile(other), []);
});

test('sysfs finds a loop and proves its backing file without forking losetup', async (t) => {
  const { image, device } = await scratchDevice(t, 16 * MiB);
  const identity = (await fileIdentity(image))!;
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent'; // any fork of a host tool now fails with FAILED_PRECONDITION
  try {
    await assert.rejects(run('losetup', ['--version']), isCode(Code.FAILED_PRECONDITION), 'with this PATH no host tool can run');
    assert.equal(await loopOfDeviceNode(device), device);
    assert.equal(await loopIsBackedBy(device, identity), true);
  } finally {
    process.env.PATH = path;
  }
});

test('attaching a missing image is NOT_FOUND', async (t) => {
  const dir = await makeTempDir(t, 'missing');
  await assert.rejects(attachLoop(join(dir, 'nope.img')), isCode(Code.NOT_FOUND));
});

for (const fsType of ['ext4', 'xfs', 'btrfs'] as FsType[]) {
  test(`mkfs ${fsType} on a blank device, then probe says ${fsType}; a second mkfs is refused`, async (t) => {
    const { device } = await scratchDevice(t);
    assert.deepEqual(await probeDevice(device), { kind: 'blank' });
    await makeFilesystem(device, fsType, fsType === 'xfs' ? { options: ['-m', 'reflink=1'] } : {});
    const p = await probeDevice(device);
    assert.equal(p.kind, 'filesystem');
    assert.equal(p.kind === 'filesystem' && p.fsType, fsType);
    assert.ok(p.kind === 'filesystem' && p.uuid);
    for (const other of ['ext4', 'xfs', 'btrfs'] as FsType[]) {
      await assert.rejects(makeFilesystem(device, other), isCode(Code.FAILED_PRECONDITION));
    }
  });
}

/** A hand-written MBR: one Linux partition from sector 2048 to the end. */
async function writeMbr(image: string, sectors: number): Promise<void> {
  const mbr = Buffer.alloc(512);
  const e = 446;
  mbr[e] = 0x00; // not bootable
  mbr[e + 1] = 0xfe;
  mbr[e + 2] = 0xff;
  mbr[e + 3] = 0xff; // CHS start (LBA mode)
  mbr[e + 4] = 0x83; // Linux
  mbr[e + 5] = 0xfe;
  mbr[e + 6] = 0xff;
  mbr[e + 7] = 0xff; // CHS end
  mbr.writeUInt32LE(2048, e + 8);
  mbr.writeUInt32LE(sectors - 2048, e + 12);
  mbr.writeUInt32LE(0x1234abcd, 440); // disk signature
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const fh = await open(image, 'r+');
  try {
    await fh.write(mbr, 0, 512, 0);
  } finally {
    await fh.close();
  }
}

test('mkfs refuses a device holding an MBR partition table', async (t) => {
  const size = 64 * MiB;
  const { device } = await scratchDevice(t, size, (image) => writeMbr(image, size / 512));
  assert.deepEqual(await probeDevice(device), { kind: 'partition-table', ptType: 'dos' });
  await assert.rejects(
    makeFilesystem(device, 'ext4'),
    (e: unknown) => isCode(Code.FAILED_PRECONDITION)(e) && /partition table/.test(String(e)),
  );
});

test('mkfs refuses a device holding a GPT (written with sfdisk)', async (t) => {
  try {
    await run('sfdisk', ['--version']);
  } catch {
    t.skip('sfdisk is not installed');
    return;
  }
  const { device } = await scratchDevice(t, 64 * MiB, async (image) => {
    await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', image], { input: 'label: gpt\n,,L\n' });
  });
  const p = await probeDevice(device);
  // sfdisk writes the GPT for 512-byte sectors; through a loop device's 4 KiB sectors (LOOP_SECTOR_SIZE)
  // its header is not at LBA 1 any more, and what shows is the protective MBR. Either way: never formatted.
  assert.equal(p.kind, 'partition-table');
  assert.ok(['gpt', 'PMBR'].includes((p as { ptType: string }).ptType), JSON.stringify(p));
  await assert.rejects(makeFilesystem(device, 'xfs'), isCode(Code.FAILED_PRECONDITION));
});

test('mkfs rejects options outside the allow-list before touching the device', async (t) => {
  const { device } = await scratchDevice(t, 64 * MiB);
  await assert.rejects(makeFilesystem(device, 'ext4', { options: ['-O', '^has_journal'] }), isCode(Code.INVALID_ARGUMENT));
  assert.deepEqual(await probeDevice(device), { kind: 'blank' });
});

test('probe of a device path that is not a device path is INVALID_ARGUMENT', async () => {
  await assert.rejects(probeDevice('-p'), isCode(Code.INVALID_ARGUMENT));
  await assert.rejects(probeDevice('/dev/../etc/passwd'), isCode(Code.INVALID_ARGUMENT));
});

test('nothing leaked', async () => {
  assert.deepEqual(await leakCheck(), { loops: [], mounts: [] });
});
