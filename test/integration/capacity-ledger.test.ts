// The in-memory capacity ledger (design: Capacity) against a full recount of records and images:
// after random creates, clones, restores, deletes, snapshots, expansions, provisioning changes and
// writes, made through two pool handles (two lock descriptions, two ledgers: what a second process
// does), and after a real `quarry controller` is killed with SIGKILL in the middle of bursts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { bytes, MiB } from '../../src/domain/bytes.js';
import { snapshotIdForName, volumeIdForName, type SnapshotId, type VolumeId } from '../../src/domain/ids.js';
import { UNLINK_SETTLE_MS } from '../../src/storage/capacity-ledger.js';
import { ImagePool, type NewVolume } from '../../src/storage/image-pool.js';
import { changeProvisioning } from '../../src/storage/provisioning-change.js';
import { recoverInterrupted } from '../../src/storage/recovery.js';
import { createSnapshot, deleteSnapshot } from '../../src/storage/snapshots.js';
import { call } from '../helpers/grpc-client.js';
import { startQuarry } from '../helpers/quarry-process.js';
import { makeScratchFs, makeTempDir, onCleanup, type HasAfter } from '../helpers/scratch.js';
import { seededRng } from '../chaos/lib/rng.js';

/** The chaos suite's seeded generator, so a failure can be replayed (the seed is in the test's diagnostics). */
const rng = (seed: number): (() => number) => seededRng(seed).next;

const spec = (name: string, size: number, extra: Partial<NewVolume> = {}): NewVolume => ({
  id: volumeIdForName(name),
  name,
  sizeBytes: bytes(size),
  fsType: 'ext4',
  provisioning: 'thin',
  accessTypes: ['block'],
  requestKey: '{}',
  parameters: {},
  ...extra,
});

/**
 * The ledger and the recount promise the same bytes, and the ledger never counts more owned bytes.
 * With no volume in use (nothing a node may write), they count the same owned bytes too.
 */
async function assertMatches(pool: ImagePool, label: string, quiet: boolean): Promise<void> {
  let ledger = await pool.ledgerCapacity();
  let recount = await pool.capacity();
  assert.equal(ledger.promisedBytes, recount.promisedBytes, `${label}: promised bytes`);
  assert.ok(ledger.ownedBytes <= recount.ownedBytes, `${label}: the ledger owns ${ledger.ownedBytes} > recount ${recount.ownedBytes}`);
  if (!quiet || ledger.ownedBytes === recount.ownedBytes) return;
  // Right after a delete, XFS may still be freeing the deleted image's extents in the background,
  // so a relative measured then looks shared (design: Capacity). The ledger measures such lines
  // again once that window has passed; from then on the counts must agree exactly.
  await sleep(UNLINK_SETTLE_MS + 200);
  ledger = await pool.ledgerCapacity();
  recount = await pool.capacity();
  assert.equal(ledger.promisedBytes, recount.promisedBytes, `${label}, settled: promised bytes`);
  assert.equal(ledger.ownedBytes, recount.ownedBytes, `${label}, settled: owned bytes`);
}

/** What a node does to a volume in use: records it staged, writes into it, records it unstaged. */
async function writeAsNode(pool: ImagePool, id: VolumeId, random: () => number, check: () => Promise<void>): Promise<void> {
  const staged = await pool.updateVolume(id, (v) => ({
    ...v,
    staging: [{ nodeId: 'node-a', stagingPath: `/var/lib/kubelet/staging/${id}`, accessType: 'block' }],
  }));
  const fd = await open(pool.volumeImagePath(id), 'r+');
  try {
    const chunks = staged.sizeBytes / MiB;
    for (let i = 0; i < 4; i++) await fd.write(randomBytes(MiB), 0, MiB, Math.floor(random() * chunks) * MiB);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await check();
  await pool.updateVolume(id, (v) => ({ ...v, staging: [] }));
}

async function openPool(t: HasAfter, root: string): Promise<ImagePool> {
  const pool = await ImagePool.open('default', root, { overprovisioning: 4 });
  onCleanup(t, () => pool.close()); // the pool holds its lock file open; the scratch filesystem unmounts after
  return pool;
}

const POOLS = [
  { fsType: 'xfs' as const, reflink: true, label: 'xfs with reflink' },
  { fsType: 'ext4' as const, reflink: false, label: 'ext4' },
];

/** LEDGER_SEED values that once made the ledger and the recount disagree; kept as always-run cases. */
const FIXED_SEEDS = [381018, 917662];

/**
 * Random creates, clones, restores, deletes, snapshots, expansions, provisioning changes and writes
 * from two processes (two pool handles, each with its own lock description and ledger); after every
 * step both ledgers must match a full recount.
 */
async function randomMix(t: TestContext, p: (typeof POOLS)[number], seed: number): Promise<void> {
  const fs = await makeScratchFs(t, { fsType: p.fsType, sizeBytes: 2048 * MiB, reflink: p.reflink });
  const root = join(fs.mountPath, 'pool');
  await mkdir(root);
  const a = await openPool(t, root);
  const b = await openPool(t, root); // its own lock description and ledger: another process
  t.diagnostic(`seed ${seed} (LEDGER_SEED=${seed} replays it)`);
  const random = rng(seed);
  const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(random() * xs.length)];
  const volumes: VolumeId[] = [];
  const snapshots: SnapshotId[] = [];
  const ops: string[] = [];
  const checkBoth = async (label: string, quiet = true) => {
    await assertMatches(a, `${label} (pool handle a)`, quiet);
    await assertMatches(b, `${label} (pool handle b)`, quiet);
  };
  let n = 0;
  for (let step = 0; step < 70; step++) {
    const pool = random() < 0.6 ? a : b;
    const r = random();
    const name = `v${n++}`;
    const size = (8 + Math.floor(random() * 8) * 8) * MiB;
    let op = '';
    try {
      if (r < 0.22 || volumes.length < 2) {
        op = `create ${name}`;
        const thick = random() < 0.25;
        volumes.push((await pool.createVolume(spec(name, size, { provisioning: thick ? 'thick' : 'thin' }))).id as VolumeId);
      } else if (r < 0.32) {
        const source = pick(volumes)!;
        const src = (await pool.getVolume(source))!;
        op = `clone ${source} into ${name}`;
        const v = await pool.createVolume(spec(name, src.sizeBytes, { source: { kind: 'volume', id: source } }), (partial) =>
          pool.copyImage(pool.volumeImagePath(source), partial),
        );
        volumes.push(v.id as VolumeId);
      } else if (r < 0.4 && snapshots.length > 0) {
        const source = pick(snapshots)!;
        const snap = (await pool.snapshots.read(source))!;
        op = `restore ${source} into ${name}`;
        const v = await pool.createVolume(spec(name, snap.sizeBytes, { source: { kind: 'snapshot', id: source } }), (partial) =>
          pool.copyImage(pool.snapshotImagePath(source), partial),
        );
        volumes.push(v.id as VolumeId);
      } else if (r < 0.52) {
        const source = pick(volumes)!;
        const id = snapshotIdForName(`s${n}`);
        op = `snapshot ${source} as ${id}`;
        await createSnapshot(pool, { id, name: `s${n}`, sourceVolumeId: source, parameters: {} });
        snapshots.push(id);
      } else if (r < 0.6 && snapshots.length > 0) {
        const id = snapshots.splice(Math.floor(random() * snapshots.length), 1)[0]!;
        op = `delete snapshot ${id}`;
        await deleteSnapshot(pool, id);
      } else if (r < 0.7) {
        const id = volumes.splice(Math.floor(random() * volumes.length), 1)[0]!;
        op = `delete ${id}`;
        await pool.deleteVolume(id);
      } else if (r < 0.78) {
        const id = pick(volumes)!;
        const v = (await pool.getVolume(id))!;
        op = `expand ${id}`;
        await pool.expandVolume(id, bytes(v.sizeBytes + size));
      } else if (r < 0.84) {
        const id = pick(volumes)!;
        const v = (await pool.getVolume(id))!;
        op = `make ${id} ${v.provisioning === 'thin' ? 'thick' : 'thin'}`;
        await changeProvisioning(pool, id, v.provisioning === 'thin' ? 'thick' : 'thin');
      } else {
        const id = pick(volumes)!;
        op = `write into ${id}`;
        await writeAsNode(pool, id, random, () => checkBoth(`while ${id} is in use`, false));
      }
    } catch (err) {
      // A full pool refuses; that is an answer too, and the ledger must still match.
      if (!/no space|RESOURCE_EXHAUSTED/i.test((err as Error).message)) throw err;
      op += ' (refused: no space)';
    }
    ops.push(op);
    await checkBoth(`after step ${step}: ${op}`);
  }
  t.diagnostic(ops.join('; '));
  assert.ok(
    ops.filter((o) => o.startsWith('snapshot')).length > 0 && ops.filter((o) => o.startsWith('write')).length > 0,
    'the mix exercised snapshots and writes',
  );
}

for (const p of POOLS) {
  describe(`capacity ledger on a ${p.label} pool`, () => {
    test('matches a full recount after random creates, clones, restores, deletes, snapshots, expansions, provisioning changes and writes from two processes', async (t) => {
      await randomMix(t, p, Number(process.env.LEDGER_SEED ?? Date.now() % 1_000_000));
    });

    // Seeds that once found real gaps, replayed on every run (commit be8fa07): 381018 deletes a volume
    // restored from a snapshot deleted before, whose extents still shared with its origin; 917662 deletes
    // a snapshot while a block its source overwrote since was shared by the snapshot and a clone only.
    for (const seed of FIXED_SEEDS) {
      test(`matches a full recount in the mix of seed ${seed}, which once left owned bytes under the recount`, async (t) => {
        await randomMix(t, p, seed);
      });
    }

    test('after a controller is killed with SIGKILL mid-burst and restarted, a ledger built before and one built afresh both match the recount', async (t) => {
      const fs = await makeScratchFs(t, { fsType: p.fsType, sizeBytes: 2048 * MiB, reflink: p.reflink });
      const root = join(fs.mountPath, 'pool');
      await mkdir(root);
      const a = await openPool(t, root);
      const seed = Number(process.env.LEDGER_SEED ?? Date.now() % 1_000_000);
      t.diagnostic(`seed ${seed}`);
      const random = rng(seed);
      // Volumes with data, so that snapshots and deletions by the controller move owned bytes.
      const seeded: VolumeId[] = [];
      for (let i = 0; i < 6; i++) {
        const v = await a.createVolume(spec(`seed-${i}`, 64 * MiB));
        seeded.push(v.id as VolumeId);
        await writeAsNode(a, v.id as VolumeId, random, async () => undefined);
      }
      await assertMatches(a, 'seeded', true);
      const sock = await makeTempDir(t, 'sock');
      const rw = [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }];
      for (let round = 0; round < 3; round++) {
        const q = await startQuarry(t, {
          role: 'controller',
          dir: sock,
          args: ['--nodeid', 'node-a', '--pool', root, '--overprovisioning', '4'],
        });
        const c = q.clients.controller;
        const calls: Array<Promise<unknown>> = [];
        for (let i = 0; i < 60; i++) {
          const r = random();
          const source = seeded[Math.floor(random() * seeded.length)]!;
          if (r < 0.5) {
            calls.push(
              call(c, 'CreateVolume', {
                name: `r${round}-${i}`,
                volume_capabilities: rw,
                capacity_range: { required_bytes: 16 * MiB },
              } as never),
            );
          } else if (r < 0.75) {
            calls.push(call(c, 'CreateSnapshot', { name: `r${round}-s${i}`, source_volume_id: source } as never));
          } else if (r < 0.9) {
            calls.push(
              call(c, 'CreateVolume', {
                name: `r${round}-c${i}`,
                volume_capabilities: rw,
                capacity_range: { required_bytes: 64 * MiB },
                volume_content_source: { volume: { volume_id: source } },
              } as never),
            );
          } else {
            calls.push(call(c, 'DeleteVolume', { volume_id: volumeIdForName(`r${Math.max(0, round - 1)}-${i}`) } as never));
          }
        }
        // Killed once some calls have finished and others are still running.
        let done = 0;
        for (const cl of calls)
          void cl.then(
            () => done++,
            () => done++,
          );
        const until = Date.now() + 20_000;
        while (done < 8 + round * 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
        const answeredBeforeKill = done;
        const exit = await q.kill();
        assert.equal(exit.signal, 'SIGKILL');
        const settled = await Promise.allSettled(calls);
        const cut = settled.filter((s) => s.status === 'rejected' && /UNAVAILABLE|CANCELLED|14 |1 /.test(String(s.reason))).length;
        t.diagnostic(
          `round ${round}: killed after ${answeredBeforeKill} of ${calls.length} calls had answered; ${cut} cut off by the kill`,
        );
        // Half-made objects may be left: the promise is counted the same, owned bytes never above the recount.
        await assertMatches(a, `after kill ${round}, ledger built before`, false);
      }
      // Restarted: its recovery finishes the interrupted deletions; then it is stopped for good.
      const q = await startQuarry(t, {
        role: 'controller',
        dir: sock,
        args: ['--nodeid', 'node-a', '--pool', root, '--overprovisioning', '4'],
      });
      await q.kill();
      await recoverInterrupted(a, Date.now(), 0); // the creations nobody will retry, as a restart finds them much later
      await assertMatches(a, 'after recovery, ledger built before', true);
      const fresh = await openPool(t, root);
      await assertMatches(fresh, 'after recovery, ledger built afresh', true);
      // And the long-lived ledger keeps matching as work goes on.
      for (const id of seeded.slice(0, 3)) {
        await a.deleteVolume(id);
        await assertMatches(a, `after deleting ${id}`, true);
        await assertMatches(fresh, `after deleting ${id} (other handle)`, true);
      }
    });
  });
}
