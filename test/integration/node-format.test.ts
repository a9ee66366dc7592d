// Issue 15 items 3 and 10: formatting is recorded, and only Quarry's own unfinished or first format happens.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { chmod, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { probeDevice } from '../../src/host/blkid.js';
import { run } from '../../src/host/exec.js';
import { topMountAt } from '../../src/host/mountinfo.js';
import { assertNoHostState, createVolume, deleteVolume, stage, startCluster, unstage, volumePaths } from '../helpers/csi-flow.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { sha256File } from '../helpers/sha256.js';
import { findLoopsByBackingFile, makeTempDir, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

test('a volume created for block access holding raw data is never formatted when staged as a filesystem', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'raw', 'block', 64 * MiB);
  const { staging } = await volumePaths(c, 'raw');
  await stage(c, id, staging, 'block');
  const device = (await findLoopsByBackingFile(c.imagePath(id)))[0]!.device;
  // Raw application data that no filesystem signature describes: blkid calls it blank.
  const fd = await open(device, 'r+');
  await fd.write(Buffer.alloc(1 * MiB, 0xa5), 0, 1 * MiB, 0);
  await fd.sync();
  await fd.close();
  assert.deepEqual(await probeDevice(device), { kind: 'blank' }, 'blkid sees raw data as blank');
  await unstage(c, id, staging);
  const before = await sha256File(c.imagePath(id));
  await rejectsWithCode(stage(c, id, staging, 'ext4'), grpc.status.FAILED_PRECONDITION, /raw block access/);
  assert.equal(await sha256File(c.imagePath(id)), before, 'the raw data is untouched');
  assert.equal(await topMountAt(staging), undefined);
  assert.deepEqual(await findLoopsByBackingFile(c.imagePath(id)), [], 'the refused stage detached its loop');
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

/**
 * A test double for mkfs.xfs: runs the real one, marks the new superblock "in progress" (as a
 * mkfs killed in its first milliseconds leaves it: blkid sees xfs, mount says "Structure needs
 * cleaning"), then kills the node process that ran it, as a crash would.
 */
async function dyingMkfsXfs(dir: string): Promise<string> {
  const real = (await run('sh', ['-c', 'command -v mkfs.xfs'])).stdout.trim();
  const script = `#!/bin/sh
for last; do :; done
"${real}" "$@" || exit 1
xfs_db -x -c 'sb 0' -c 'write -d inprogress 1' "$last" >/dev/null 2>&1
kill -KILL "$PPID"
exit 1
`;
  await writeFile(join(dir, 'mkfs.xfs'), script);
  await chmod(join(dir, 'mkfs.xfs'), 0o755);
  return dir;
}

test('mkfs.xfs killed mid-way: the record says formatting began, so a restage formats again and mounts', async (t) => {
  const doubles = await dyingMkfsXfs(await makeTempDir(t, 'mkfs-double'));
  const c = await startCluster(t, { nodeEnv: { PATH: `${doubles}:${process.env.PATH ?? ''}` } });
  const id = await createVolume(c, 'half-made', 'xfs', 320 * MiB);
  const { staging } = await volumePaths(c, 'half');
  await assert.rejects(stage(c, id, staging, 'xfs'), 'the node died during mkfs');
  const device = (await findLoopsByBackingFile(c.imagePath(id)))[0]!.device;
  const half = await probeDevice(device);
  assert.equal(half.kind === 'filesystem' && half.fsType, 'xfs', 'blkid sees the half-made filesystem');
  const recorded = (await c.recordOf(id)).formatState;

  await c.restartNode({});
  await stage(c, id, staging, 'xfs');
  assert.equal(recorded, 'began', 'the record said formatting began');
  assert.equal((await topMountAt(staging))?.fsType, 'xfs', 'mounted after the restage');
  assert.equal((await c.recordOf(id)).formatState, 'done');
  await writeFile(join(staging, 'kept'), 'data');

  // Formatted and mounted once: never formatted again, whatever happens later.
  await unstage(c, id, staging);
  await stage(c, id, staging, 'xfs');
  assert.equal(await readFile(join(staging, 'kept'), 'utf8'), 'data');
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('a filesystem Quarry made and mounted that later reads as blank is not formatted again', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'wiped', 'ext4', 64 * MiB);
  const { staging } = await volumePaths(c, 'wiped');
  await stage(c, id, staging, 'ext4');
  await unstage(c, id, staging);
  assert.equal((await c.recordOf(id)).formatState, 'done');
  await run('wipefs', ['-a', c.imagePath(id)]);
  await rejectsWithCode(stage(c, id, staging, 'ext4'), grpc.status.FAILED_PRECONDITION, /does not format it again/);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});
