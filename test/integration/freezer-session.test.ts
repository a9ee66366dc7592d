import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import type { FsType } from '../../src/domain/volume.js';
import { openFreezer } from '../../src/host/freezer-session.js';
import { thaw } from '../../src/host/fsfreeze.js';
import { topMountAt } from '../../src/host/mountinfo.js';
import { leakCheck, makeScratchFs, onCleanup } from '../helpers/scratch.js';

const isCode = (code: Code) => (e: unknown) => e instanceof QuarryError && e.code === code;

for (const fsType of ['ext4', 'xfs', 'btrfs'] as FsType[]) {
  test(`freezer on ${fsType}: freeze blocks writes until thaw; both are idempotent; close ends it`, async (t) => {
    const fs = await makeScratchFs(t, { fsType });
    onCleanup(t, () => thaw(fs.mountPath)); // never leave a frozen fs behind (not frozen counts as done)
    const freezer = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 });
    onCleanup(t, () => freezer.close());
    const mounted = (await topMountAt(fs.mountPath))!;
    assert.equal(await freezer.openedMountId(), mounted.mountId, 'it holds the mount open');
    await freezer.freeze();
    await freezer.freeze();
    let written = false;
    const write = writeFile(join(fs.mountPath, 'f'), 'x').then(() => {
      written = true;
    });
    await sleep(300);
    assert.equal(written, false, 'a write to a frozen filesystem must block');
    await freezer.thaw();
    await write;
    assert.equal(written, true);
    await freezer.thaw();
    await freezer.close();
    await assert.rejects(freezer.freeze(), isCode(Code.UNAVAILABLE), 'a closed freezer says so, so the caller can fall back');
  });
}

test('freezer on a path that is not a filesystem it can open: the freeze fails with the tool’s reason', async () => {
  const freezer = await openFreezer('/nonexistent-quarry-freezer-target', { lifetimeMs: 10_000 });
  try {
    await assert.rejects(freezer.freeze(), (e: unknown) => e instanceof QuarryError && e.code !== Code.DEADLINE_EXCEEDED);
  } finally {
    await freezer.close();
  }
});

test('freezer: a command past its bound is DEADLINE_EXCEEDED and ends the process', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  onCleanup(t, () => thaw(fs.mountPath)); // the freeze may have taken effect before the bound
  const freezer = await openFreezer(fs.mountPath, { lifetimeMs: 30_000, commandTimeoutMs: 1 });
  onCleanup(t, () => freezer.close());
  await assert.rejects(freezer.freeze(), isCode(Code.DEADLINE_EXCEEDED));
  await assert.rejects(freezer.thaw(), isCode(Code.UNAVAILABLE));
});

test('nothing leaked', async () => {
  assert.deepEqual(await leakCheck(), { loops: [], mounts: [] });
});
