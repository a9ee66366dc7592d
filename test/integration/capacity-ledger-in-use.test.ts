// The capacity ledger's rule for a volume in use (design: Capacity): after a whole-file reflink
// copy of it, or after a sharer of it goes, it reads no extent map. It counts every allocated byte
// shared at the copy (at most what a map would say), and keeps its shared bytes when sharing falls,
// so it owns no more than a full recount finds; the exact count comes back once it leaves use.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { bytes, MiB } from '../../src/domain/bytes.js';
import { snapshotIdForName, volumeIdForName, type VolumeId } from '../../src/domain/ids.js';
import { UNLINK_SETTLE_MS } from '../../src/storage/capacity-ledger.js';
import { ImagePool, type NewVolume } from '../../src/storage/image-pool.js';
import { createSnapshot, deleteSnapshot } from '../../src/storage/snapshots.js';
import { makeScratchFs, onCleanup, type HasAfter } from '../helpers/scratch.js';

const spec = (name: string, size: number, provisioning: 'thin' | 'thick'): NewVolume => ({
  id: volumeIdForName(name),
  name,
  sizeBytes: bytes(size),
  fsType: 'ext4',
  provisioning,
  accessTypes: ['block'],
  requestKey: '{}',
  parameters: {},
});

async function write(pool: ImagePool, id: VolumeId, offsetsMiB: number[]): Promise<void> {
  const fd = await open(pool.volumeImagePath(id), 'r+');
  try {
    for (const at of offsetsMiB) await fd.write(randomBytes(MiB), 0, MiB, at * MiB);
    await fd.sync();
  } finally {
    await fd.close();
  }
}

const stage = (pool: ImagePool, id: VolumeId, on: boolean) =>
  pool.updateVolume(id, (v) => ({
    ...v,
    staging: on ? [{ nodeId: 'node-a', stagingPath: `/var/lib/kubelet/staging/${id}`, accessType: 'block' as const }] : [],
  }));

/** A pool directory on a fresh 1 GiB xfs scratch filesystem with reflink. */
async function scratchPoolDir(t: HasAfter): Promise<string> {
  const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 1024 * MiB, reflink: true });
  const root = join(fs.mountPath, 'pool');
  await mkdir(root);
  return root;
}

async function openPool(t: HasAfter, root: string): Promise<ImagePool> {
  const pool = await ImagePool.open('default', root, { overprovisioning: 4 });
  onCleanup(t, () => pool.close());
  return pool;
}

async function counts(pool: ImagePool): Promise<{ ledger: number; recount: number }> {
  const ledger = await pool.ledgerCapacity();
  const recount = await pool.capacity();
  assert.equal(ledger.promisedBytes, recount.promisedBytes, 'promised bytes');
  return { ledger: ledger.ownedBytes, recount: recount.ownedBytes };
}

test('a volume in use is counted without an extent map after a snapshot of it and after that snapshot goes, never above the recount, and exactly once it leaves use', async (t) => {
  const pool = await openPool(t, await scratchPoolDir(t));

  // Thick: fallocated, so its image holds unwritten extents, which XFS's FICLONE does not share.
  const thick = (await pool.createVolume(spec('thick', 32 * MiB, 'thick'))).id as VolumeId;
  const thin = (await pool.createVolume(spec('thin', 32 * MiB, 'thin'))).id as VolumeId;
  await write(pool, thick, [0, 1]);
  await write(pool, thin, [0, 1, 2, 3]);
  await stage(pool, thick, true);
  await stage(pool, thin, true);
  let c = await counts(pool);
  assert.equal(c.ledger, c.recount, 'before any snapshot, every byte is owned and measured');

  await createSnapshot(pool, { id: snapshotIdForName('s-thick'), name: 's-thick', sourceVolumeId: thick, parameters: {} });
  await createSnapshot(pool, { id: snapshotIdForName('s-thin'), name: 's-thin', sourceVolumeId: thin, parameters: {} });
  c = await counts(pool);
  // Had an extent map been read, the thick volume's 30 MiB of unwritten extents would count as owned.
  assert.equal(c.ledger, 0, 'right after the copies, the ledger counts every allocated byte of both as shared');
  assert.equal(c.recount, 30 * MiB, "the recount finds the thick volume's unwritten extents its own");

  // New blocks are the volume's own: a stat sees them. An overwrite of a shared block unshares it:
  // the ledger does not see that (fewer owned bytes, the safe side).
  await write(pool, thin, [8, 9]);
  await write(pool, thin, [0]);
  c = await counts(pool);
  assert.equal(c.ledger, 2 * MiB, 'the blocks written into holes since the copy count as owned');
  assert.equal(c.recount, 30 * MiB + 3 * MiB, 'the recount also finds the overwritten block unshared');

  // The snapshot goes: the thin volume's blocks are its own again; the ledger keeps them shared.
  await deleteSnapshot(pool, snapshotIdForName('s-thin'));
  c = await counts(pool);
  assert.ok(c.ledger <= c.recount, `after the delete the ledger owns ${c.ledger} > recount ${c.recount}`);
  assert.equal(c.ledger, 2 * MiB, 'no extent map was read for the volume in use');

  // Leaving use, each is measured again; once XFS has freed the deleted image, the counts agree.
  await stage(pool, thin, false);
  await stage(pool, thick, false);
  await sleep(UNLINK_SETTLE_MS + 200);
  c = await counts(pool);
  assert.equal(c.ledger, c.recount, 'out of use, the ledger counts exactly what the recount does');
  assert.equal(c.recount, 30 * MiB + 6 * MiB, 'thick: its unwritten extents; thin: its six allocated MiB, nothing shared now');
});

test('a snapshot of a volume in use made by another process is counted by the same rule: no extent map, never above the recount', async (t) => {
  const root = await scratchPoolDir(t);
  const here = await openPool(t, root);
  // Another process on the same pool: its changes reach `here` only through the pool generation.
  const other = await openPool(t, root);

  const thick = (await here.createVolume(spec('thick', 32 * MiB, 'thick'))).id as VolumeId;
  await write(here, thick, [0, 1]);
  await stage(here, thick, true);
  let c = await counts(here);
  assert.equal(c.ledger, c.recount, 'before the snapshot, every byte is owned and measured');

  const snap = snapshotIdForName('s-other');
  await createSnapshot(other, { id: snap, name: 's-other', sourceVolumeId: thick, parameters: {} });
  c = await counts(here);
  // Had an extent map been read, the thick volume's 30 MiB of unwritten extents would count as owned.
  assert.equal(c.ledger, 0, "after another process's copy, every allocated byte of the source counts as shared");
  assert.equal(c.recount, 30 * MiB, "the recount finds the thick volume's unwritten extents its own");

  await deleteSnapshot(other, snap);
  c = await counts(here);
  assert.ok(c.ledger <= c.recount, `after the other process's delete the ledger owns ${c.ledger} > recount ${c.recount}`);

  await stage(here, thick, false);
  await sleep(UNLINK_SETTLE_MS);
  c = await counts(here);
  assert.equal(c.ledger, c.recount, 'out of use, the ledger counts exactly what the recount does');
  assert.equal(c.recount, 32 * MiB, 'thick: all of it its own once the snapshot is gone');
});
