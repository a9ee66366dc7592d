// Issue 15 item 16 (mount part) and issue 14 item 2: mount options the kernel refuses, and SELinux contexts.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { run } from '../../src/host/exec.js';
import { checkOptions } from '../../src/host/mount.js';
import { topMountAt } from '../../src/host/mountinfo.js';
import { assertNoHostState, createVolume, deleteVolume, stage, startCluster, unstage, volumePaths } from '../helpers/csi-flow.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { findLoopsByBackingFile, makeTempDir, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

const SELINUX = 'context="system_u:object_r:container_file_t:s0:c1,c2"';

test('a mount option the filesystem refuses is INVALID_ARGUMENT naming it; nothing stays mounted or attached', async (t) => {
  const c = await startCluster(t);
  const id = await createVolume(c, 'bad-option', 'ext4', 64 * MiB);
  const { staging } = await volumePaths(c, 'v');
  const e = await rejectsWithCode(
    stage(c, id, staging, 'ext4', { mountFlags: ['noatime', 'bogus_option'] }),
    grpc.status.INVALID_ARGUMENT,
    /"bogus_option"/,
  );
  assert.doesNotMatch(e.details, /"noatime"/);
  assert.equal(await topMountAt(staging), undefined);
  assert.deepEqual(await findLoopsByBackingFile(c.imagePath(id)), []);
  await stage(c, id, staging, 'ext4', { mountFlags: ['noatime'] }); // the same volume stages once the flag is fixed
  await unstage(c, id, staging);
  await deleteVolume(c, id);
  await assertNoHostState(c);
});

test('checkOptions: a quoted SELinux context passes whole; nothing else gains quotes or commas', () => {
  checkOptions(['noatime', SELINUX, 'fscontext="system_u:object_r:nfs_t:s0"', 'context=system_u:object_r:container_file_t:s0']);
  const refused = [
    'context="system_u:object_r:container_file_t:s0",dev',
    'context=system_u:object_r:container_file_t:s0:c1,c2',
    'context="a"b"',
    'context="a;b"',
    'noatime,suid',
    'size="1m"',
    'context=""',
  ];
  for (const bad of refused) {
    assert.throws(
      () => checkOptions([bad]),
      (e: unknown) => e instanceof QuarryError && e.code === Code.INVALID_ARGUMENT,
      bad,
    );
  }
});

/** A test double for mount(8) that records its argv, one argument a line, then runs the real mount. */
async function recordingMount(dir: string): Promise<{ dir: string; log: string }> {
  const real = (await run('sh', ['-c', 'command -v mount'])).stdout.trim();
  const log = join(dir, 'mount-argv.log');
  await writeFile(log, '');
  await writeFile(
    join(dir, 'mount'),
    `#!/bin/sh\nprintf '%s\\n' "$@" >> '${log}'\nprintf '%s\\n' -- ---- >> '${log}'\nexec '${real}' "$@"\n`,
  );
  await chmod(join(dir, 'mount'), 0o755);
  return { dir, log };
}

test("kubelet's SELinux context option reaches mount(8) intact on a real mount", async (t) => {
  const double = await recordingMount(await makeTempDir(t, 'mount-double'));
  const c = await startCluster(t, { nodeEnv: { PATH: `${double.dir}:${process.env.PATH ?? ''}` } });
  const id = await createVolume(c, 'selinux', 'ext4', 64 * MiB);
  const { staging } = await volumePaths(c, 'v');
  await stage(c, id, staging, 'ext4', { mountFlags: ['noatime', SELINUX] });
  const m = await topMountAt(staging);
  assert.ok(m?.options.includes('noatime'), 'the real mount happened with the other flag');
  const args = (await readFile(double.log, 'utf8')).split('\n');
  const i = args.findIndex((a, k) => a === '-o' && args[k + 4] === staging);
  assert.ok(i >= 0, `mount was called for ${staging}: ${JSON.stringify(args)}`);
  assert.equal(args[i + 1], `noatime,${SELINUX}`, 'the context, quotes and its comma reach mount(8) as one option');
  await unstage(c, id, staging);
  await rejectsWithCode(
    stage(c, id, staging, 'ext4', { mountFlags: ['context="system_u:object_r:container_file_t:s0",suid'] }),
    grpc.status.INVALID_ARGUMENT,
  );
  await deleteVolume(c, id);
  await assertNoHostState(c);
});
