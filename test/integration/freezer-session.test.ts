import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import type { FsType } from '../../src/domain/volume.js';
import { setHostToolObserver } from '../../src/host/exec.js';
import { openFreezer } from '../../src/host/freezer-session.js';
import { thaw } from '../../src/host/fsfreeze.js';
import { topMountAt } from '../../src/host/mountinfo.js';
import { waitUntil } from '../helpers/quarry-process.js';
import { opensPath } from '../helpers/snapshot-harness.js';
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
  // Dirty data the freeze must write back first, so it cannot answer within the bound (a kept
  // spare answers an idle freeze in well under a millisecond).
  await writeFile(join(fs.mountPath, 'dirty'), Buffer.alloc(64 * 1024 * 1024, 1));
  await assert.rejects(freezer.freeze(), isCode(Code.DEADLINE_EXCEEDED));
  await assert.rejects(freezer.thaw(), isCode(Code.UNAVAILABLE));
});

/** This process's xfs_io children started with no file: kept spares. */
async function sparesOf(parent: number): Promise<number[]> {
  const found: number[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (Number(stat.split(') ')[1]?.split(' ')[1]) === parent && argv === 'xfs_io\0-r\0-x\0') found.push(Number(pid));
  }
  return found;
}

test('a freezer that ends leaves one spare with no file open; the next freezer is that process, opening its mount', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  onCleanup(t, () => thaw(fs.mountPath));
  const first = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 });
  await first.openedMountId();
  await first.close();
  await waitUntil(
    async () => (await sparesOf(process.pid)).length > 0,
    5_000,
    () => 'no spare started',
  );
  const spares = await sparesOf(process.pid);
  assert.equal(spares.length, 1, `one spare: ${spares.join(', ')}`);
  assert.equal(await opensPath(spares[0]!, fs.mountPath), false, 'the spare holds nothing open');

  // Idle a while: the spare's run, as the host-tool metrics see it, counts from its use, not its start.
  await sleep(1_000);
  const runs: Array<[string, number]> = [];
  setHostToolObserver((tool, _outcome, seconds) => runs.push([tool, seconds]));
  onCleanup(t, () => setHostToolObserver(undefined));
  const next = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 });
  onCleanup(t, () => next.close());
  assert.equal(await next.openedMountId(), (await topMountAt(fs.mountPath))!.mountId);
  assert.equal(await opensPath(spares[0]!, fs.mountPath), true, 'the spare became the freezer of this mount');
  await next.freeze();
  await next.thaw();
  await next.close();
  setHostToolObserver(undefined);
  assert.equal(runs.length, 1, `one run observed: ${JSON.stringify(runs)}`);
  assert.ok(runs[0]![0] === 'xfs_io' && runs[0]![1] < 0.9, `the run counts from its use: ${JSON.stringify(runs)}`);
  await waitUntil(
    async () => !(await opensPath(spares[0]!, fs.mountPath)),
    5_000,
    () => 'the freezer still holds the mount',
  );
});

test('a spare that ends after a newer one started does not make that one count as ended: the next freezer takes it', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  onCleanup(t, () => thaw(fs.mountPath));
  const idleSpares = async () => {
    const idle: number[] = [];
    for (const pid of await sparesOf(process.pid)) if (!(await opensPath(pid, fs.mountPath))) idle.push(pid);
    return idle;
  };
  const first = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 });
  await first.close();
  await waitUntil(
    async () => (await idleSpares()).length === 1,
    5_000,
    () => 'no spare started',
  );
  const older = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 }); // takes that spare
  onCleanup(t, () => older.close());
  await older.openedMountId();
  const forked = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 }); // none left: a new process
  await forked.close();
  await waitUntil(
    async () => (await idleSpares()).length === 1,
    5_000,
    () => 'no newer spare started',
  );
  await older.close(); // the older spare exits now, after the newer one started
  const next = await openFreezer(fs.mountPath, { lifetimeMs: 30_000 });
  onCleanup(t, () => next.close());
  await next.openedMountId();
  assert.deepEqual(await idleSpares(), [], 'the newer spare became the freezer: none is left idle');
  await next.close();
});

test('a spare ends with the process that kept it, even one killed with SIGKILL', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs' });
  const module = new URL('../../src/host/freezer-session.js', import.meta.url).href;
  const script = `
    const { openFreezer } = await import(${JSON.stringify(module)});
    const f = await openFreezer(${JSON.stringify(fs.mountPath)}, { lifetimeMs: 30000 });
    await f.openedMountId();
    await f.close();
    setInterval(() => undefined, 1000); // kept alive until killed
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  onCleanup(t, () => child.kill('SIGKILL'));
  await waitUntil(
    async () => (await sparesOf(child.pid!)).length > 0,
    10_000,
    () => 'the child kept no spare',
  );
  const spares = await sparesOf(child.pid!);
  child.kill('SIGKILL');
  await waitUntil(
    async () =>
      !(await readFile(`/proc/${spares[0]}/stat`, 'utf8').then(
        (st) => !/\) Z /.test(st),
        () => false,
      )),
    5_000,
    () => `spare ${spares[0]} outlived its process`,
  );
});

test('nothing leaked', async () => {
  assert.deepEqual(await leakCheck(), { loops: [], mounts: [] });
});
