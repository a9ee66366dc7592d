// What runs inside a freeze and what runs after it (design: Freeze): the copy runs with the
// filesystem frozen and the marker recorded; the step after it (a snapshot's fsync and rename)
// runs thawed; whatever fails, the call ends with the filesystem thawed and no marker left.
// Frozen or not is asked of the kernel: fsfreeze -f on a frozen filesystem is EBUSY, and
// fsfreeze -u on a thawed one is EINVAL.
import assert from 'node:assert/strict';
import { mkdir, open } from 'node:fs/promises';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bytes, MiB } from '../../src/domain/bytes.js';
import { volumeIdForName, type VolumeId } from '../../src/domain/ids.js';
import { HostCommandError, run, setHostToolObserver } from '../../src/host/exec.js';
import { thaw } from '../../src/host/fsfreeze.js';
import { topMountAt } from '../../src/host/mountinfo.js';
import type { CopyPlan, FreezingPlan } from '../../src/storage/copy-plan.js';
import { withFrozenFilesystem } from '../../src/storage/freeze-guard.js';
import { reserveBesideMarker } from '../../src/storage/freeze-marker.js';
import { ImagePool } from '../../src/storage/image-pool.js';
import { assertNoLeaks, makeScratchFs, onCleanup, type HasAfter } from '../helpers/scratch.js';
import { freezersOn } from '../helpers/snapshot-harness.js';

after(assertNoLeaks);

const refusedWith = (pattern: RegExp) => (err: unknown) => err instanceof HostCommandError && pattern.test(err.output);
const isFrozen = (mnt: string) =>
  run('fsfreeze', ['--freeze', mnt]).then(
    () => assert.fail(`${mnt} was not frozen: fsfreeze -f succeeded`),
    (err) => assert.ok(refusedWith(/busy/i)(err), `fsfreeze -f on a frozen fs is EBUSY, got ${String(err)}`),
  );
const isThawed = (mnt: string) =>
  run('fsfreeze', ['--unfreeze', mnt]).then(
    () => assert.fail(`${mnt} was frozen: fsfreeze -u succeeded`),
    (err) => assert.ok(refusedWith(/invalid argument/i)(err), `fsfreeze -u on a thawed fs is EINVAL, got ${String(err)}`),
  );

const opts = { nodeId: 'n1', holder: 'controller' };

/**
 * A pool with one volume record, a mounted filesystem standing for that volume's staging mount,
 * and `freeze`: withFrozenFilesystem on that volume and mount, so a case names only its two steps.
 */
async function setup(t: HasAfter) {
  const poolFs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 256 * MiB });
  const volumeFs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 128 * MiB });
  onCleanup(t, () => thaw(volumeFs.mountPath).catch(() => undefined));
  const root = join(poolFs.mountPath, 'pool');
  await mkdir(root);
  const pool = await ImagePool.open('p', root, { overprovisioning: 10 });
  onCleanup(t, () => pool.close());
  const id = volumeIdForName('v') as VolumeId;
  await pool.createVolume({
    id,
    name: 'v',
    sizeBytes: bytes(16 * MiB),
    fsType: 'ext4',
    provisioning: 'thin',
    accessTypes: ['mount'],
    requestKey: 'v',
    parameters: {},
  });
  const mnt = volumeFs.mountPath;
  const marker = async () => (await pool.volumes.read(id))?.freeze;
  const freeze = <T>(copy: () => Promise<T>, afterThaw: (result: T) => Promise<void>) =>
    withFrozenFilesystem(pool, id, { freezeMountPath: mnt }, opts, copy, { afterThaw });
  return { pool, id, mnt, marker, freeze };
}

test('the copy runs frozen with the marker recorded; the step after it runs thawed; no marker is left', async (t) => {
  const s = await setup(t);
  // Unsynced data: the write-back before the freeze and the freeze itself must both let it through.
  const fd = await open(join(s.mnt, 'dirty.bin'), 'w');
  await fd.write(Buffer.alloc(4 * MiB, 7));
  await fd.close();
  const seen: string[] = [];
  const result = await s.freeze(
    async () => {
      await isFrozen(s.mnt);
      assert.equal((await s.marker())?.mountPath, s.mnt, 'the freeze is recorded while frozen');
      seen.push('copy');
      return 'copied';
    },
    async (r) => {
      assert.equal(r, 'copied', 'the step after the thaw gets the copy result');
      await isThawed(s.mnt);
      seen.push('after');
    },
  );
  assert.equal(result, 'copied');
  assert.deepEqual(seen, ['copy', 'after']);
  assert.equal(await s.marker(), undefined, 'the marker is removed before the call returns');
  await isThawed(s.mnt);
});

test('the freeze and the thaw go through one freezer process (xfs_io), no fsfreeze fork, and it has ended by the return', async (t) => {
  const s = await setup(t);
  const runs: string[] = [];
  setHostToolObserver((tool, outcome) => runs.push(`${tool}:${outcome}`));
  onCleanup(t, () => setHostToolObserver(undefined));
  let during: string[] = [];
  await s.freeze(
    async () => {
      during = await freezersOn(s.mnt);
    },
    async () => undefined,
  );
  setHostToolObserver(undefined);
  assert.equal(during.length, 1, `one freezer while frozen: ${during.join('; ')}`);
  assert.deepEqual(
    runs.filter((r) => /^(xfs_io|fsfreeze):/.test(r)),
    ['xfs_io:ok'],
    'one freezer, ended cleanly; fsfreeze never ran',
  );
  assert.deepEqual(await freezersOn(s.mnt), [], 'the freezer has exited before the call returns');
  await isThawed(s.mnt);
});

test('a failing step after the thaw fails the call, with the filesystem thawed and no marker', async (t) => {
  const s = await setup(t);
  await assert.rejects(
    s.freeze(
      async () => 'copied',
      async () => {
        throw new Error('rename failed');
      },
    ),
    /rename failed/,
  );
  assert.equal(await s.marker(), undefined);
  await isThawed(s.mnt);
});

test('a failing copy skips the step after it, thaws, and leaves no marker', async (t) => {
  const s = await setup(t);
  let ran = false;
  await assert.rejects(
    s.freeze(
      async () => {
        throw new Error('copy failed');
      },
      async () => {
        ran = true;
      },
    ),
    /copy failed/,
  );
  assert.equal(ran, false, 'nothing runs after a failed copy');
  assert.equal(await s.marker(), undefined);
  await isThawed(s.mnt);
});

test('a staging mount gone since the plan: the filesystem now under the path is neither frozen nor thawed, and the copy does not run', async (t) => {
  const s = await setup(t);
  // The plan saw a filesystem at `staging` (a tmpfs standing for the volume's); it is unmounted before
  // the freeze, as an unstage racing the snapshot would, so the path now shows the filesystem below.
  const staging = join(s.mnt, 'staging');
  await mkdir(staging);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'quarry-test-staging', staging]);
  onCleanup(t, () => run('umount', [staging]).catch(() => undefined));
  const planned = (await topMountAt(staging))!;
  await run('umount', [staging]);
  const runs: string[] = [];
  setHostToolObserver((tool) => runs.push(tool));
  onCleanup(t, () => setHostToolObserver(undefined));
  let copied = false;
  await assert.rejects(
    withFrozenFilesystem(s.pool, s.id, { freezeMountPath: staging, freezeMountId: planned.mountId }, opts, async () => {
      copied = true;
    }),
    (e: unknown) => e instanceof QuarryError && e.code === Code.FAILED_PRECONDITION && /no longer at/.test(e.message),
  );
  setHostToolObserver(undefined);
  assert.equal(copied, false, 'no copy without the freeze');
  assert.deepEqual(
    runs.filter((r) => r === 'fsfreeze'),
    [],
    'fsfreeze never ran',
  );
  assert.equal(await s.marker(), undefined, 'the marker is cleared');
  await isThawed(s.mnt);
});

test('a reservation hold refused by its check ends the freezer it started; a good hold hands it on to the freeze', async (t) => {
  const s = await setup(t);
  const source = (await s.pool.volumes.read(s.id))!;
  const refused: CopyPlan = { freezeMountPath: s.mnt };
  let duringHold: string[] = [];
  await assert.rejects(
    reserveBesideMarker(
      s.pool,
      source,
      refused,
      opts,
      async () => {
        assert.ok(await refused.freezer, 'the hold started a freezer');
        duringHold = await freezersOn(s.mnt);
        throw new QuarryError(Code.RESOURCE_EXHAUSTED, 'no room (the test)');
      },
      () => assert.fail('a refused check commits nothing'),
    ),
    (e: unknown) => e instanceof QuarryError && e.code === Code.RESOURCE_EXHAUSTED,
  );
  assert.equal(duringHold.length, 1, `one xfs_io ran on the volume's mount during the hold: ${duringHold.join('; ')}`);
  assert.deepEqual(await freezersOn(s.mnt), [], 'it has ended');
  assert.equal(refused.freezer, undefined, 'the plan holds no freezer');
  assert.equal(await s.marker(), undefined, 'no marker was set');

  const good: FreezingPlan = { freezeMountPath: s.mnt };
  await reserveBesideMarker(
    s.pool,
    source,
    good,
    opts,
    async () => undefined,
    async () => undefined,
  );
  onCleanup(t, async () => (await good.freezer)?.close());
  assert.equal((await freezersOn(s.mnt)).length, 1, 'the freezer lives on for the freeze');
  await withFrozenFilesystem(s.pool, s.id, good, opts, () => isFrozen(s.mnt));
  assert.deepEqual(await freezersOn(s.mnt), [], 'the freeze closed it');
  assert.equal(await s.marker(), undefined);
  await isThawed(s.mnt);
});
