/**
 * Chaos: calls out of order and calls on paths that are not the volume's own, as a buggy or
 * hostile CO would make them (design: Node staging). Whatever each call answers, refusal or
 * success, the safety property is asserted: nothing foreign is unmounted, removed or formatted,
 * and once the CO has gone the whole way back, no loop device, record, image or mount is left.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../src/domain/bytes.js';
import { attachLoop, detachLoop, listLoops } from '../../src/host/losetup.js';
import { filesystemStats } from '../../src/host/statfs.js';
import { mount, unmount } from '../../src/host/mount.js';
import { mountsAt, mountsUnder, topMountAt } from '../../src/host/mountinfo.js';
import { makeTempDir, onCleanup, type HasAfter } from '../helpers/scratch.js';
import { auditPool } from './lib/audit.js';
import { startChaosCluster, type ChaosCluster } from './lib/cluster.js';
import * as csi from './lib/csi-ops.js';
import { FigureBook } from './lib/figures.js';
import { sha256, sha256Of, writeFsynced } from './lib/host-probes.js';
import { execa } from 'execa';

const book = new FigureBook();
let c: ChaosCluster;

interface Provisioned {
  name: string;
  id: string;
  kind: csi.Kind;
  staging: string;
  target: string;
  /** sha256 of data.bin written and fsynced in the published filesystem. */
  dataSha?: string;
}

/** Whatever the call answers; the test judges by what it did, not by its status. */
const attempt = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e) => csi.describeError(e),
  );

async function provision(name: string, kind: csi.Kind = 'ext4'): Promise<Provisioned> {
  const id = await csi.createVolume(c, name, kind, kind === 'block' ? 32 * MiB : kind === 'xfs' ? 320 * MiB : 64 * MiB);
  const p = await csi.pathsFor(c, name);
  await csi.stage(c, id, p.staging, kind);
  await csi.publish(c, id, p.staging, p.target, kind);
  book.add('operations', 3);
  const v: Provisioned = { name, id, kind, ...p };
  if (kind !== 'block') {
    const data = randomBytes(256 * 1024);
    await writeFsynced(join(p.target, 'data.bin'), data);
    v.dataSha = sha256(data);
  }
  return v;
}

/** A tmpfs that is not Quarry's, with a marker file; unmounted after the test. */
async function foreignTmpfs(t: HasAfter, label: string): Promise<string> {
  const path = join(c.workDir, 'pods', `foreign-${label}`, 'mount');
  await mkdir(path, { recursive: true });
  await mount({ source: 'tmpfs', target: path, fsType: 'tmpfs', options: ['size=1m'] });
  onCleanup(t, async () => {
    for (const m of (await mountsAt(path)).reverse()) await unmount(m.mountPoint).catch(() => undefined);
  });
  await writeFile(join(path, 'marker'), `foreign ${label}`);
  return path;
}

/** Counts and describes what is no longer as it was; `what` names the foreign object. */
function untouched(ok: boolean, what: string): void {
  if (!ok) book.found('foreignTouched', what);
}

/** Everything of volume `id` that outlived the CO's whole way back (unpublish, unstage, delete). */
async function leaksOf(id: string, paths: string[]): Promise<string[]> {
  const image = c.imagePath(id);
  const out: string[] = [];
  for (const l of await listLoops()) {
    if (l.backingFile === image)
      out.push(`${l.device} still attached to ${id}'s image${l.backingFileDeleted ? ' (deleted: its space is never freed)' : ''}`);
  }
  if (
    await stat(join(c.poolPath, 'volumes', `${id}.json`)).then(
      () => true,
      () => false,
    )
  )
    out.push(`record of ${id} still in the pool`);
  if (
    await stat(image).then(
      () => true,
      () => false,
    )
  )
    out.push(`image of ${id} still in the pool`);
  for (const p of paths) if ((await mountsAt(p)).length > 0) out.push(`${p} still mounted`);
  for (const l of out) book.found('leaks', l);
  return out;
}

/** The CO's whole way back, each call retried once; answers ignored: the leak check judges. */
async function wayBack(v: { id: string; staging: string; target: string }): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await attempt(csi.unpublish(c, v.id, v.target));
    await attempt(csi.unstage(c, v.id, v.staging));
    await attempt(csi.deleteVolume(c, v.id));
  }
}

async function mountedDevice(path: string): Promise<string | undefined> {
  return (await topMountAt(path))?.source;
}

describe('a buggy or hostile CO', () => {
  const suite = { after };
  // Registered now, while the suite is being defined, so the cluster is released after its tests.
  onCleanup(suite, () => undefined);
  before(async () => {
    c = await startChaosCluster(suite, { pool: { fsType: 'xfs', sizeBytes: 2048 * MiB } });
  });
  after(async () => {
    if (!c) return;
    await auditPool({ poolPath: c.poolPath, workDir: c.workDir, nodeId: c.nodeId }, book, 'after the call-order tests');
    book.publish('out-of-order and foreign-path calls');
  });

  describe('out-of-order calls', () => {
    test('NodeUnstage before NodeUnpublish, then DeleteVolume: once the CO has gone the whole way back nothing is left', async () => {
      const v = await provision('unstage-first');
      const answers = [
        `NodeUnstageVolume: ${await attempt(csi.unstage(c, v.id, v.staging))}`,
        `NodeUnpublishVolume: ${await attempt(csi.unpublish(c, v.id, v.target))}`,
        `DeleteVolume: ${await attempt(csi.deleteVolume(c, v.id))}`,
      ];
      book.add('operations', 3);
      await wayBack(v);
      assert.deepEqual(await leaksOf(v.id, [v.staging, v.target]), [], `answers: ${answers.join('; ')}`);
    });

    test('a block volume holding raw data is never formatted when staged as a filesystem', async () => {
      const v = await provision('raw-block', 'block');
      const data = randomBytes(1024 * 1024);
      await execa('dd', [`of=${v.target}`, 'bs=64K', 'conv=fsync,notrunc', 'status=none'], { input: data, timeout: 60_000 });
      await csi.unpublish(c, v.id, v.target);
      await csi.unstage(c, v.id, v.staging);
      const fsPath = (await csi.pathsFor(c, 'raw-block-as-fs')).staging;
      const answer = await attempt(csi.stage(c, v.id, fsPath, 'ext4'));
      book.add('operations', 3);
      if (answer === 'ok') await csi.unstage(c, v.id, fsPath);
      await csi.stage(c, v.id, v.staging, 'block');
      await csi.publish(c, v.id, v.staging, v.target, 'block');
      const r = await execa('dd', [`if=${v.target}`, 'bs=64K', 'count=16', 'status=none'], { encoding: 'buffer', timeout: 60_000 });
      const same = sha256(Buffer.from(r.stdout as Uint8Array)) === sha256(data);
      untouched(same, `block volume ${v.id}: its raw data was overwritten when staged as ext4 (NodeStage answered ${answer})`);
      assert.ok(same, `the raw data of block volume ${v.id} changed when it was staged as ext4 (NodeStage answered: ${answer})`);
      await wayBack(v);
      assert.deepEqual(await leaksOf(v.id, [v.staging, v.target, fsPath]), []);
    });
  });

  describe("calls on paths that are not the volume's own", () => {
    let a: Provisioned;
    before(async () => {
      a = await provision('owner-a');
    });
    after(async () => {
      if (a) await wayBack(a);
    });

    test('NodeUnpublish and NodeUnstage on a foreign tmpfs leave it mounted with its files', async (t) => {
      const path = await foreignTmpfs(t, 'tmpfs');
      const answers = [await attempt(csi.unpublish(c, a.id, path)), await attempt(csi.unstage(c, a.id, path))];
      book.add('operations', 2);
      const mounted = (await mountsAt(path)).some((m) => m.fsType === 'tmpfs');
      const marker = await readFile(join(path, 'marker'), 'utf8').catch(() => undefined);
      untouched(
        mounted && marker === 'foreign tmpfs',
        `foreign tmpfs at ${path}: ${mounted ? 'mounted' : 'unmounted'}, marker ${marker === undefined ? 'gone' : 'kept'} (answers: ${answers.join('; ')})`,
      );
      assert.ok(mounted, `the foreign tmpfs at ${path} was unmounted (answers: ${answers.join('; ')})`);
      assert.equal(marker, 'foreign tmpfs', 'the foreign tmpfs lost its file');
    });

    test('NodeUnpublish and NodeUnstage on an unrelated file leave the file', async () => {
      const dir = join(c.workDir, 'pods', 'unrelated');
      await mkdir(dir, { recursive: true });
      const file = join(dir, 'notes.txt');
      await writeFile(file, "not quarry's");
      const answers = [await attempt(csi.unpublish(c, a.id, file)), await attempt(csi.unstage(c, a.id, file))];
      book.add('operations', 2);
      const content = await readFile(file, 'utf8').catch(() => undefined);
      untouched(
        content === "not quarry's",
        `unrelated file ${file} was ${content === undefined ? 'deleted' : 'changed'} (answers: ${answers.join('; ')})`,
      );
      assert.equal(content, "not quarry's", `the unrelated file was deleted or changed (answers: ${answers.join('; ')})`);
    });

    test("NodeUnpublish and NodeUnstage of volume A on volume B's staging and target leave B mounted with its data", async () => {
      const b = await provision('victim-b');
      const bDevice = await mountedDevice(b.staging);
      const answers: string[] = [];
      for (const path of [b.target, b.staging]) {
        answers.push(await attempt(csi.unpublish(c, a.id, path)), await attempt(csi.unstage(c, a.id, path)));
      }
      book.add('operations', 4);
      const staged = (await mountedDevice(b.staging)) === bDevice;
      const published = (await mountsAt(b.target)).length > 0;
      const data = await sha256Of(join(b.target, 'data.bin')).catch(() => undefined);
      untouched(
        staged && published && data === b.dataSha,
        `volume B ${b.id}: staged ${staged}, published ${published}, data ${data === b.dataSha ? 'intact' : 'lost'} (answers: ${answers.join('; ')})`,
      );
      assert.ok(staged, `B's staging mount was removed by calls for A (answers: ${answers.join('; ')})`);
      assert.ok(published, `B's publication was removed by calls for A (answers: ${answers.join('; ')})`);
      assert.equal(data, b.dataSha, "B's data is not readable as written");
      await wayBack(b);
      assert.deepEqual(await leaksOf(b.id, [b.staging, b.target]), []);
    });

    test('NodeStage of B where A is mounted: A stays mounted, B leaves no loop or record and can be deleted', async () => {
      const bId = await csi.createVolume(c, 'stage-over-a', 'ext4', 64 * MiB);
      const aDevice = await mountedDevice(a.staging);
      const answer = await attempt(csi.stage(c, bId, a.staging, 'ext4'));
      const deleted = await attempt(csi.deleteVolume(c, bId));
      book.add('operations', 3);
      untouched(
        (await mountedDevice(a.staging)) === aDevice,
        `A's staging ${a.staging} no longer shows ${aDevice} after NodeStage(B) there (${answer})`,
      );
      const leaks = await leaksOf(bId, []);
      assert.equal(await mountedDevice(a.staging), aDevice, `A's staging mount changed (NodeStage(B) answered: ${answer})`);
      assert.deepEqual(leaks, [], `NodeStage(B) answered: ${answer}; DeleteVolume(B) answered: ${deleted}`);
    });

    test("a CO that then unstages B at A's staging path does not unmount A", async () => {
      const bId = await csi.createVolume(c, 'unstage-b-at-a', 'ext4', 64 * MiB);
      const aDevice = await mountedDevice(a.staging);
      const answers = [
        await attempt(csi.stage(c, bId, a.staging, 'ext4')),
        await attempt(csi.unstage(c, bId, a.staging)),
        await attempt(csi.deleteVolume(c, bId)),
      ];
      book.add('operations', 3);
      const still = (await mountedDevice(a.staging)) === aDevice;
      const data = await sha256Of(join(a.target, 'data.bin')).catch(() => undefined);
      untouched(
        still && data === a.dataSha,
        `A ${a.id}: staging mount ${still ? 'kept' : 'removed'}, data ${data === a.dataSha ? 'intact' : 'lost'} after NodeStage+NodeUnstage of B at its path (answers: ${answers.join('; ')})`,
      );
      await wayBack({ id: bId, staging: a.staging, target: join(c.workDir, 'pods', 'unstage-b-at-a-none') }).catch(() => undefined);
      assert.ok(still, `A's staging mount was removed (answers: ${answers.join('; ')})`);
      assert.equal(data, a.dataSha, "A's data is not readable as written");
    });

    test('NodeExpandVolume pointed at a foreign filesystem does not grow it', async (t) => {
      // The foreign xfs is 300 MiB on a 400 MiB device: xfs_growfs run on it would take the rest.
      const dir = await makeTempDir(t, 'foreign-xfs');
      const image = join(dir, 'foreign.img');
      await writeFile(image, '');
      await truncate(image, 400 * MiB);
      const loop = await attachLoop(image, { directIo: false });
      onCleanup(t, () => detachLoop(loop.device).catch(() => undefined));
      await execa('mkfs.xfs', ['-q', '-d', 'size=300m', loop.device], { timeout: 60_000 });
      const path = join(c.workDir, 'pods', 'foreign-xfs', 'mount');
      await mkdir(path, { recursive: true });
      await mount({ source: loop.device, target: path, fsType: 'xfs' });
      onCleanup(t, () => unmount(path).catch(() => undefined));
      const before = (await filesystemStats(path)).totalBytes;
      const x = await provision('grow-xfs', 'xfs');
      const answer = await attempt(csi.nodeExpand(c, x.id, path, x.staging, 'xfs', 320 * MiB));
      book.add('operations');
      const after = (await filesystemStats(path)).totalBytes;
      untouched(
        after === before,
        `foreign xfs at ${path} grew from ${before} to ${after} bytes through NodeExpandVolume of ${x.id} (${answer})`,
      );
      assert.equal(after, before, `the foreign filesystem was grown (NodeExpandVolume answered: ${answer})`);
      await wayBack(x);
      assert.deepEqual(await leaksOf(x.id, [x.staging, x.target]), []);
    });

    test('symlinked staging and target paths never put a mount outside the work dir, and the volume can still be torn down', async (t) => {
      const outside = await makeTempDir(t, 'outside');
      onCleanup(t, async () => {
        for (const m of (await mountsUnder(outside)).sort((x, y) => y.mountPoint.length - x.mountPoint.length))
          await unmount(m.mountPoint).catch(() => undefined);
      });
      await mkdir(join(outside, 'stage'));
      await mkdir(join(outside, 'pod'));
      const staging = join(c.workDir, 'plugins', 'staging', 'via-link');
      const podDir = join(c.workDir, 'pods', 'via-link');
      await mkdir(join(c.workDir, 'plugins', 'staging'), { recursive: true });
      await symlink(join(outside, 'stage'), staging);
      await symlink(join(outside, 'pod'), podDir);
      const target = join(podDir, 'mount');
      const id = await csi.createVolume(c, 'symlinked', 'ext4', 64 * MiB);
      const answers = [await attempt(csi.stage(c, id, staging, 'ext4')), await attempt(csi.publish(c, id, staging, target, 'ext4'))];
      book.add('operations', 3);
      const escaped = (await mountsUnder(outside)).map((m) => m.mountPoint);
      untouched(
        escaped.length === 0,
        `symlinked paths put mounts outside the kubelet dir: ${escaped.join(', ')} (answers: ${answers.join('; ')})`,
      );
      await wayBack({ id, staging, target });
      const leaks = await leaksOf(id, [staging, target]);
      const stillOutside = (await mountsUnder(outside)).map((m) => m.mountPoint);
      for (const m of stillOutside) book.found('leaks', `${m} still mounted after the way back`);
      assert.deepEqual(escaped, [], `mounts landed outside the work dir through symlinks (answers: ${answers.join('; ')})`);
      assert.deepEqual([...leaks, ...stillOutside], [], 'left behind after the way back');
    });
  });
});
