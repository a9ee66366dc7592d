/**
 * The chaos suite's own detectors, shown to fire: a detector that cannot fail would let the suite
 * report zeros for the wrong reason. Each test plants the defect by hand on real files, loops and
 * mounts, and asserts that the audit counts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../src/domain/bytes.js';
import { freeze } from '../../src/host/fsfreeze.js';
import { attachLoop, detachLoop } from '../../src/host/losetup.js';
import { mount, unmount } from '../../src/host/mount.js';
import { makeScratchFs, makeTempDir, onCleanup } from '../helpers/scratch.js';
import { auditFrozen, auditPool, recordDefect } from './lib/audit.js';
import { FigureBook } from './lib/figures.js';
import { isFrozen, thawQuietly } from './lib/host-probes.js';
import { seededRng } from './lib/rng.js';

const volume = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    format: 1,
    kind: 'volume',
    id,
    state: 'ready',
    sizeBytes: 32 * MiB,
    staging: [],
    publications: [],
    attachments: [],
    accessTypes: ['mount'],
    ...extra,
  });

test('recordDefect names what is wrong with a record, and accepts a whole one', () => {
  assert.equal(recordDefect(volume('vol-a'), 'volume', 'vol-a'), undefined);
  assert.match(recordDefect('{"kind":"volume"', 'volume', 'vol-a')!, /not JSON/);
  assert.match(recordDefect(volume('vol-a', { staging: undefined }), 'volume', 'vol-a')!, /staging is not a list/);
  assert.match(recordDefect(volume('vol-a', { sizeBytes: 'lots' }), 'volume', 'vol-a')!, /sizeBytes/);
  assert.match(recordDefect(volume('vol-a', { sizeBytes: -1 }), 'volume', 'vol-a')!, /sizeBytes/);
  assert.match(recordDefect(volume('vol-b'), 'volume', 'vol-a')!, /id "vol-b"/);
});

test('the pool audit counts planted orphans, corrupt records, a loop over a deleted image and a mount no record owns', async (t) => {
  const pool = await makeTempDir(t, 'audit-pool');
  const work = await makeTempDir(t, 'audit-work');
  const vols = join(pool, 'volumes');
  await mkdir(vols);
  await mkdir(join(pool, 'snapshots'));
  await writeFile(join(vols, 'vol-ok.json'), volume('vol-ok'));
  await writeFile(join(vols, 'vol-ok.img'), '');
  await writeFile(join(vols, '.vol-ok.json.0123456789ab.tmp'), '{');
  await writeFile(join(vols, 'vol-half.img.partial'), '');
  await writeFile(join(vols, 'vol-lost.img'), '');
  await writeFile(join(vols, 'vol-nolists.json'), JSON.stringify({ kind: 'volume', id: 'vol-nolists', state: 'ready', sizeBytes: MiB }));
  await writeFile(join(vols, 'vol-creating.json'), volume('vol-creating', { state: 'creating' }));
  // A loop over an image that is then deleted.
  const doomed = join(vols, 'vol-gone.img');
  await writeFile(doomed, '');
  await truncate(doomed, 8 * MiB);
  const loop = await attachLoop(doomed, { directIo: false });
  onCleanup(t, () => detachLoop(loop.device).catch(() => undefined));
  await rm(doomed);
  // A mount under the work dir that no record owns.
  const stray = join(work, 'stray');
  await mkdir(stray);
  await mount({ source: 'tmpfs', target: stray, fsType: 'tmpfs', options: ['size=1m'] });
  onCleanup(t, () => unmount(stray).catch(() => undefined));

  const book = new FigureBook();
  await auditPool({ poolPath: pool, workDir: work, nodeId: 'n1' }, book, 'planted');
  const text = book.findings.join('\n');
  assert.equal(book.figures.corruptRecords, 1, text);
  assert.match(text, /vol-nolists\.json: staging is not a list/);
  for (const re of [
    /temp record file volumes\/\.vol-ok\.json/,
    /partial image volumes\/vol-half\.img\.partial/,
    /image volumes\/vol-lost\.img without a ready record/,
    /vol-creating left in state creating/,
    /attached to deleted image volumes\/vol-gone\.img/,
    /stray \(tmpfs tmpfs\) is mounted but no record owns it/,
  ]) {
    assert.match(text, re);
  }
  assert.equal(book.figures.orphans, 6, text);
  // Seen again by a later audit, the same orphans are not counted twice.
  await auditPool({ poolPath: pool, workDir: work, nodeId: 'n1' }, book, 'again');
  assert.equal(book.figures.orphans, 6);
});

test('a frozen filesystem is found without hanging, counted and thawed; an unfrozen one is not', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 64 * MiB });
  onCleanup(t, () => thawQuietly(fs.mountPath));
  assert.equal(await isFrozen(fs.mountPath), false);
  await freeze(fs.mountPath);
  const book = new FigureBook();
  await auditFrozen(fs.dir, book, 'planted');
  assert.equal(book.figures.frozenFilesystems, 1, book.findings.join('\n'));
  assert.equal(await isFrozen(fs.mountPath), false, 'the audit thawed what it found');
});

test('the seeded random source repeats itself for one seed', () => {
  const a = seededRng(42);
  const b = seededRng(42);
  const xs = Array.from({ length: 20 }, () => a.int(1000));
  assert.deepEqual(
    Array.from({ length: 20 }, () => b.int(1000)),
    xs,
  );
  const c = seededRng(43);
  assert.notDeepEqual(
    Array.from({ length: 20 }, () => c.int(1000)),
    xs,
  );
});
