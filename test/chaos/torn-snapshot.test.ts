/**
 * Chaos: torn-snapshot detection (design: Snapshots and clones, Freeze). A writer fsyncs counter k
 * to the first block and then to the last block of an in-use volume, over and over; snapshots are
 * taken meanwhile. At every instant the volume holds first == last or first == last + 1, so a
 * snapshot that restores with last > first (or with a filesystem that no longer mounts) holds a
 * state no disk ever held: torn. Checked on a raw block volume and on a file in a mounted ext4
 * volume, over ext4 pools, XFS pools with reflink and XFS pools without (mkfs.xfs -m reflink=0).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../src/domain/bytes.js';
import { fill, startWriterChild } from './lib/child.js';
import { startChaosCluster, type ChaosCluster } from './lib/cluster.js';
import * as csi from './lib/csi-ops.js';
import { FigureBook } from './lib/figures.js';
import { chaosRng } from './lib/rng.js';

const SNAPSHOTS = 3;
const VOLUME_BYTES = 96 * MiB;
/** Data in the volume, so a sparse copy takes long enough for the writer to move on during it. */
const DATA_BYTES = 64 * MiB;
const FILE_BYTES = 48 * MiB;
const BLOCK = 4096;
const book = new FigureBook();
const rng = chaosRng('torn-snapshot');
after(() => void book.publish(`torn snapshots (seed ${rng.seed})`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const POOLS = [
  { label: 'ext4 pool', pool: { fsType: 'ext4' as const } },
  { label: 'xfs pool with reflink', pool: { fsType: 'xfs' as const, reflink: true } },
  { label: 'xfs pool without reflink', pool: { fsType: 'xfs' as const, reflink: false } },
];

/** The counter at the start of the 4 KiB block at `offset` of `path` (0 when never written). */
async function counterAt(path: string, offset: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    await fh.read(buf, 0, BLOCK, offset);
    return Number.parseInt(buf.toString('latin1').split('\n')[0]!, 10) || 0;
  } finally {
    await fh.close();
  }
}

/** Runs the counter writer on `path` while SNAPSHOTS snapshots of the volume are taken; returns their IDs. */
async function snapshotsUnderWrites(
  t: { after(fn: () => unknown): void },
  c: ChaosCluster,
  volumeId: string,
  path: string,
  lastOffset: number,
  label: string,
) {
  const stop = join(c.workDir, `stop-${label}`);
  await rm(stop, { force: true });
  const writer = startWriterChild(t, ['counter', path, String(lastOffset), stop]);
  await sleep(200);
  const ids: string[] = [];
  for (let i = 0; i < SNAPSHOTS; i++) {
    await sleep(rng.between(20, 300));
    book.add('operations');
    try {
      ids.push(await csi.createSnapshot(c, `${label}-snap-${i}`, volumeId));
    } catch (err) {
      // Refusing a snapshot that cannot be consistent is allowed, with a message that says why.
      const e = err as { code?: number; details?: string };
      if (e.code !== 9 || !e.details) throw err;
      process.stderr.write(`chaos torn-snapshot: ${label}: snapshot ${i} refused (FAILED_PRECONDITION): ${e.details}\n`);
    }
  }
  await writeFile(stop, '');
  const { iterations } = (await writer.result) as { iterations: number };
  assert.ok(iterations > SNAPSHOTS, `the writer made only ${iterations} iterations`);
  return ids;
}

function judge(where: string, first: number, last: number) {
  book.add('snapshotsChecked');
  if (last > first || first - last > 1) {
    book.found('tornSnapshots', `${where}: first block holds ${first}, last block ${last}: no instant of the volume held that`);
  }
}

describe('snapshots of volumes in use are never torn', () => {
  for (const { label, pool } of POOLS) {
    describe(label, () => {
      test('raw block volume under a first-then-last fsync writer', { timeout: 4 * 60_000 }, async (t) => {
        const c = await startChaosCluster(t, { pool: { ...pool, sizeBytes: 1024 * MiB } });
        const tag = `blk-${pool.fsType}${pool.reflink === false ? '-noreflink' : ''}`;
        const id = await csi.createVolume(c, tag, 'block', VOLUME_BYTES);
        const p = await csi.pathsFor(c, tag);
        await csi.stage(c, id, p.staging, 'block');
        await csi.publish(c, id, p.staging, p.target, 'block');
        await fill(t, p.target, DATA_BYTES, 4 * MiB, false);
        const snaps = await snapshotsUnderWrites(t, c, id, p.target, VOLUME_BYTES - BLOCK, tag);
        const before = book.figures.tornSnapshots;
        for (const [i, snap] of snaps.entries()) {
          const restored = await csi.createVolume(c, `${tag}-restore-${i}`, 'block', VOLUME_BYTES, { snapshotId: snap });
          book.add('operations');
          const image = c.imagePath(restored);
          judge(`${label}, block volume, snapshot ${i}`, await counterAt(image, 0), await counterAt(image, VOLUME_BYTES - BLOCK));
          await csi.deleteVolume(c, restored);
        }
        for (const snap of snaps) await csi.deleteSnapshot(c, snap);
        await csi.unpublish(c, id, p.target);
        await csi.unstage(c, id, p.staging);
        await csi.deleteVolume(c, id);
        assert.equal(
          book.figures.tornSnapshots - before,
          0,
          `torn snapshots on the ${label}:\n${book.findings.filter((f) => f.includes(`${label},`)).join('\n')}`,
        );
      });

      test('file in a mounted ext4 volume under a first-then-last fsync writer', { timeout: 4 * 60_000 }, async (t) => {
        const c = await startChaosCluster(t, { pool: { ...pool, sizeBytes: 1024 * MiB } });
        const tag = `fs-${pool.fsType}${pool.reflink === false ? '-noreflink' : ''}`;
        const id = await csi.createVolume(c, tag, 'ext4', VOLUME_BYTES);
        const p = await csi.pathsFor(c, tag);
        await csi.stage(c, id, p.staging, 'ext4');
        await csi.publish(c, id, p.staging, p.target, 'ext4');
        const file = join(p.target, 'counter.bin');
        await fill(t, file, FILE_BYTES, 4 * MiB, false);
        const snaps = await snapshotsUnderWrites(t, c, id, file, FILE_BYTES - BLOCK, tag);
        const before = book.figures.tornSnapshots;
        for (const [i, snap] of snaps.entries()) {
          const name = `${tag}-restore-${i}`;
          const restored = await csi.createVolume(c, name, 'ext4', VOLUME_BYTES, { snapshotId: snap });
          const rp = await csi.pathsFor(c, name);
          book.add('operations', 3);
          const where = `${label}, mounted ext4 volume, snapshot ${i}`;
          try {
            await csi.stage(c, restored, rp.staging, 'ext4');
          } catch (err) {
            book.add('snapshotsChecked');
            book.found('tornSnapshots', `${where}: the restored filesystem does not stage: ${csi.describeError(err)}`);
            await csi.deleteVolume(c, restored).catch(() => undefined);
            continue;
          }
          const restoredFile = join(rp.staging, 'counter.bin');
          const readable = await readFile(restoredFile).then(
            () => true,
            () => false,
          );
          if (!readable) {
            book.add('snapshotsChecked');
            book.found('tornSnapshots', `${where}: counter.bin is missing or unreadable in the restored filesystem`);
          } else judge(where, await counterAt(restoredFile, 0), await counterAt(restoredFile, FILE_BYTES - BLOCK));
          await csi.unstage(c, restored, rp.staging);
          await csi.deleteVolume(c, restored);
        }
        for (const snap of snaps) await csi.deleteSnapshot(c, snap);
        await csi.unpublish(c, id, p.target);
        await csi.unstage(c, id, p.staging);
        await csi.deleteVolume(c, id);
        assert.equal(
          book.figures.tornSnapshots - before,
          0,
          `torn snapshots on the ${label}:\n${book.findings.filter((f) => f.includes(`${label},`)).join('\n')}`,
        );
      });
    });
  }
});
