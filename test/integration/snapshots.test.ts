// Snapshots, restores and clones through real quarry processes, on a reflink XFS pool and on an ext4 pool.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { makeScratchFs } from '../helpers/scratch.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { sha256File } from '../helpers/sha256.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

const VOLUME = 512 * MiB;
const DATA = 24 * MiB;
const XFS_PARAMS = { 'csi.storage.k8s.io/fstype': 'xfs' };

/** Writes `size` random bytes at `path` (fsynced) and returns their sha256. */
async function writeData(path: string, size: number): Promise<string> {
  const data = randomBytes(size);
  const fd = await open(path, 'w');
  try {
    await fd.write(data);
    await fd.sync();
  } finally {
    await fd.close();
  }
  return createHash('sha256').update(data).digest('hex');
}

const allocated = async (path: string) => (await stat(path)).blocks * 512;

for (const poolFs of ['xfs', 'ext4'] as const) {
  describe(`snapshots on a ${poolFs} pool${poolFs === 'xfs' ? ' (reflink)' : ' (sparse copy)'}`, () => {
    test('restore holds exactly the data written before the snapshot, keeps holes, and outlives its source both ways', async (t) => {
      const fs = await makeScratchFs(t, { fsType: poolFs, sizeBytes: 4 * GiB });
      const pool = join(fs.mountPath, 'pool');
      const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool });
      const c = q.clients.controller;
      const caps = (await call(c, 'ControllerGetCapabilities', {})).capabilities!.map((x) => x.rpc?.type);
      for (const cap of ['CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS', 'GET_SNAPSHOT', 'CLONE_VOLUME'])
        assert.ok(caps.includes(cap as never), cap);

      const src = (
        await call(c, 'CreateVolume', {
          name: 'src',
          capacity_range: { required_bytes: VOLUME },
          volume_capabilities: [mountCapability()],
          parameters: XFS_PARAMS,
        })
      ).volume!;
      const pubA = await stageAndPublish(t, q.clients, src.volume_id!, fs.dir);
      const before = await writeData(join(pubA.targetPath, 'before.bin'), DATA);
      const capBefore = (await call(c, 'GetCapacity', {})).available_capacity!;

      const snap = (
        await call(
          c,
          'CreateSnapshot',
          {
            name: 'snap-1',
            source_volume_id: src.volume_id!,
            parameters: {
              'csi.storage.k8s.io/volumesnapshot/name': 'vs',
              'csi.storage.k8s.io/volumesnapshot/namespace': 'ns',
              'csi.storage.k8s.io/volumesnapshotcontent/name': 'vsc',
            },
          },
          { timeoutMs: 60_000 },
        )
      ).snapshot!;
      assert.equal(snap.ready_to_use, true);
      assert.equal(Number(snap.size_bytes), VOLUME);
      assert.equal(snap.source_volume_id, src.volume_id);
      assert.ok(Number(snap.creation_time!.seconds) > 1_700_000_000);
      await writeData(join(pubA.targetPath, 'after.bin'), 4 * MiB);

      const record = JSON.parse(await readFile(join(pool, 'snapshots', `${snap.snapshot_id}.json`), 'utf8'));
      assert.deepEqual(record.kubernetes, { snapshotName: 'vs', snapshotNamespace: 'ns', snapshotContentName: 'vsc' });
      assert.ok(record.allocatedBytes >= DATA, `snapshot record counts its data: ${record.allocatedBytes}`);
      const capAfter = (await call(c, 'GetCapacity', {})).available_capacity!;
      const drop = Number(capBefore) - Number(capAfter);
      assert.ok(Math.abs(drop - record.allocatedBytes) <= MiB, `GetCapacity dropped by ${drop}, snapshot holds ${record.allocatedBytes}`);

      // Idempotent by name; another source under the same name is ALREADY_EXISTS.
      const again = (await call(c, 'CreateSnapshot', { name: 'snap-1', source_volume_id: src.volume_id! })).snapshot!;
      assert.deepEqual(again, snap);
      const other = (
        await call(c, 'CreateVolume', {
          name: 'other',
          capacity_range: { required_bytes: VOLUME },
          volume_capabilities: [mountCapability()],
          parameters: XFS_PARAMS,
        })
      ).volume!;
      await rejectsWithCode(call(c, 'CreateSnapshot', { name: 'snap-1', source_volume_id: other.volume_id! }), grpc.status.ALREADY_EXISTS);
      await rejectsWithCode(
        call(c, 'CreateSnapshot', { name: 'snap-x', source_volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa' }),
        grpc.status.NOT_FOUND,
      );
      await rejectsWithCode(
        call(c, 'CreateSnapshot', { name: 'snap-x', source_volume_id: src.volume_id!, parameters: { bogus: '1' } }),
        grpc.status.INVALID_ARGUMENT,
      );

      // Restore into a larger volume: the filesystem grows on first stage.
      const restored = (
        await call(
          c,
          'CreateVolume',
          {
            name: 'restored',
            capacity_range: { required_bytes: 2 * VOLUME },
            volume_capabilities: [mountCapability()],
            parameters: XFS_PARAMS,
            volume_content_source: { snapshot: { snapshot_id: snap.snapshot_id! } },
          },
          { timeoutMs: 60_000 },
        )
      ).volume!;
      await rejectsWithCode(
        call(c, 'CreateVolume', {
          name: 'too-small',
          capacity_range: { required_bytes: VOLUME / 2 },
          volume_capabilities: [mountCapability()],
          parameters: XFS_PARAMS,
          volume_content_source: { snapshot: { snapshot_id: snap.snapshot_id! } },
        }),
        grpc.status.OUT_OF_RANGE,
      );
      const srcImage = join(pool, 'volumes', `${src.volume_id}.img`);
      const restoredImage = join(pool, 'volumes', `${restored.volume_id}.img`);
      const [srcAlloc, snapAlloc, restAlloc] = [
        await allocated(srcImage),
        await allocated(join(pool, 'snapshots', `${snap.snapshot_id}.img`)),
        await allocated(restoredImage),
      ];
      assert.ok(
        restAlloc < snapAlloc + 8 * MiB && restAlloc > DATA,
        `restored image holds ${restAlloc} bytes, snapshot ${snapAlloc}: holes stay holes`,
      );
      assert.ok(snapAlloc <= srcAlloc, `snapshot ${snapAlloc} vs source ${srcAlloc}`);

      const pubB = await stageAndPublish(t, q.clients, restored.volume_id!, fs.dir);
      assert.equal(await sha256File(join(pubB.targetPath, 'before.bin')), before);
      assert.deepEqual(
        (await readdir(pubB.targetPath)).filter((n) => n.endsWith('.bin')),
        ['before.bin'],
      );
      const { statfs } = await import('node:fs/promises');
      const sfs = await statfs(pubB.targetPath);
      assert.ok(sfs.blocks * sfs.bsize > 1.5 * VOLUME, `restored filesystem grew to ${sfs.blocks * sfs.bsize}`);
      await pubB.release();

      // The snapshot survives its source's deletion.
      await pubA.release();
      await call(c, 'DeleteVolume', { volume_id: src.volume_id! });
      // No fstype asked for: the restore keeps the snapshot's xfs (the default would be ext4).
      const fromOrphan = (
        await call(
          c,
          'CreateVolume',
          {
            name: 'from-orphan',
            capacity_range: { required_bytes: VOLUME },
            volume_capabilities: [mountCapability()],
            volume_content_source: { snapshot: { snapshot_id: snap.snapshot_id! } },
          },
          { timeoutMs: 60_000 },
        )
      ).volume!;
      assert.equal((await call(c, 'GetSnapshot', { snapshot_id: snap.snapshot_id! })).snapshot!.snapshot_id, snap.snapshot_id);
      assert.equal(fromOrphan.volume_context?.fsType, 'xfs');

      // A restored volume survives the snapshot's deletion; DeleteSnapshot is idempotent.
      await call(c, 'DeleteSnapshot', { snapshot_id: snap.snapshot_id! });
      await call(c, 'DeleteSnapshot', { snapshot_id: snap.snapshot_id! });
      await call(c, 'DeleteSnapshot', { snapshot_id: 'not-a-snapshot' });
      await rejectsWithCode(call(c, 'GetSnapshot', { snapshot_id: snap.snapshot_id! }), grpc.status.NOT_FOUND);
      for (const v of [restored, fromOrphan]) {
        const pub = await stageAndPublish(t, q.clients, v.volume_id!, fs.dir);
        assert.equal(await sha256File(join(pub.targetPath, 'before.bin')), before);
        await pub.release();
      }

      // Clone of a volume, then the clone outlives its source.
      const clone = (
        await call(
          c,
          'CreateVolume',
          {
            name: 'clone',
            capacity_range: { required_bytes: 2 * VOLUME },
            volume_capabilities: [mountCapability()],
            parameters: XFS_PARAMS,
            volume_content_source: { volume: { volume_id: restored.volume_id! } },
          },
          { timeoutMs: 60_000 },
        )
      ).volume!;
      await call(c, 'DeleteVolume', { volume_id: restored.volume_id! });
      const pubC = await stageAndPublish(t, q.clients, clone.volume_id!, fs.dir);
      assert.equal(await sha256File(join(pubC.targetPath, 'before.bin')), before);
      await pubC.release();
      for (const v of [clone, fromOrphan, other]) await call(c, 'DeleteVolume', { volume_id: v.volume_id! });
      assert.deepEqual(
        (await readdir(join(pool, 'volumes'))).filter((n) => !n.startsWith('.')),
        [],
      );
      assert.deepEqual(
        (await readdir(join(pool, 'snapshots'))).filter((n) => !n.startsWith('.')),
        [],
      );
    });

    test('ListSnapshots filters and pages by keyset; a bad token is ABORTED', async (t) => {
      const fs = await makeScratchFs(t, { fsType: poolFs, sizeBytes: 2 * GiB });
      const q = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
      const c = q.clients.controller;
      const a = (
        await call(c, 'CreateVolume', { name: 'a', capacity_range: { required_bytes: 64 * MiB }, volume_capabilities: [mountCapability()] })
      ).volume!;
      const b = (
        await call(c, 'CreateVolume', { name: 'b', capacity_range: { required_bytes: 64 * MiB }, volume_capabilities: [mountCapability()] })
      ).volume!;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(
          (await call(c, 'CreateSnapshot', { name: `s${i}`, source_volume_id: i < 3 ? a.volume_id! : b.volume_id! })).snapshot!
            .snapshot_id!,
        );
      const seen: string[] = [];
      let token = '';
      do {
        const page = await call(c, 'ListSnapshots', { max_entries: 2, starting_token: token });
        assert.ok(page.entries!.length <= 2);
        seen.push(...page.entries!.map((e) => e.snapshot!.snapshot_id!));
        token = page.next_token!;
        if (seen.length === 2) await call(c, 'DeleteSnapshot', { snapshot_id: seen[0]! }); // earlier pages never shift later ones
      } while (token);
      assert.deepEqual(seen, [...ids].sort());
      const ofB = await call(c, 'ListSnapshots', { source_volume_id: b.volume_id! });
      assert.deepEqual(
        ofB.entries!.map((e) => e.snapshot!.snapshot_id).sort(),
        ids
          .slice(3)
          .filter((id) => id !== seen[0])
          .sort(),
      );
      const kept = ids.find((id) => id !== seen[0])!;
      assert.deepEqual(
        (await call(c, 'ListSnapshots', { snapshot_id: kept })).entries!.map((e) => e.snapshot!.snapshot_id),
        [kept],
      );
      assert.equal((await call(c, 'ListSnapshots', { snapshot_id: seen[0]! })).entries!.length, 0);
      assert.equal((await call(c, 'ListSnapshots', { snapshot_id: 'garbage' })).entries!.length, 0);
      assert.equal((await call(c, 'ListSnapshots', { source_volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa' })).entries!.length, 0);
      await rejectsWithCode(call(c, 'ListSnapshots', { starting_token: 'nonsense' }), grpc.status.ABORTED);
    });

    for (const point of ['create-snapshot:after-record', 'create-snapshot:after-image'])
      test(`a crash at ${point}, then restart and retry, leaves one ready snapshot and no stray files`, async (t) => {
        const fs = await makeScratchFs(t, { fsType: poolFs, sizeBytes: 2 * GiB });
        const pool = join(fs.mountPath, 'pool');
        const first = await startQuarryOnPool(t, {
          role: 'controller',
          dir: fs.dir,
          pool,
          env: { QUARRY_FAULT_POINT: point },
          label: 'crashing',
        });
        const vol = (
          await call(first.clients.controller, 'CreateVolume', {
            name: 'v',
            capacity_range: { required_bytes: 64 * MiB },
            volume_capabilities: [mountCapability()],
          })
        ).volume!;
        await writeFile(join(pool, 'volumes', `${vol.volume_id}.img`), randomBytes(MiB), { flag: 'r+' });
        const pending = call(
          first.clients.controller,
          'CreateSnapshot',
          { name: 'crashy', source_volume_id: vol.volume_id! },
          { timeoutMs: 30_000 },
        );
        pending.catch(() => undefined);
        await first.waitForFaultPoint(point);
        await first.kill();
        await assert.rejects(pending);

        const second = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool, label: 'restarted' });
        assert.equal((await call(second.clients.controller, 'ListSnapshots', {})).entries!.length, 0, 'a half-made snapshot is not listed');
        const snap = (await call(second.clients.controller, 'CreateSnapshot', { name: 'crashy', source_volume_id: vol.volume_id! }))
          .snapshot!;
        assert.equal(snap.ready_to_use, true);
        const listed = (await call(second.clients.controller, 'ListSnapshots', {})).entries!;
        assert.deepEqual(
          listed.map((e) => e.snapshot!.snapshot_id),
          [snap.snapshot_id],
        );
        assert.deepEqual((await readdir(join(pool, 'snapshots'))).filter((n) => !n.startsWith('.')).sort(), [
          `${snap.snapshot_id}.img`,
          `${snap.snapshot_id}.json`,
        ]);
        const img = await readFile(join(pool, 'snapshots', `${snap.snapshot_id}.img`));
        assert.equal(createHash('sha256').update(img).digest('hex'), await sha256File(join(pool, 'volumes', `${vol.volume_id}.img`)));
      });

    test('a half-made snapshot whose source was deleted since is cleaned up by the retry (NOT_FOUND)', async (t) => {
      const fs = await makeScratchFs(t, { fsType: poolFs, sizeBytes: 2 * GiB });
      const pool = join(fs.mountPath, 'pool');
      const first = await startQuarryOnPool(t, {
        role: 'controller',
        dir: fs.dir,
        pool,
        env: { QUARRY_FAULT_POINT: 'create-snapshot:after-image' },
        label: 'crashing',
      });
      const vol = (
        await call(first.clients.controller, 'CreateVolume', {
          name: 'v',
          capacity_range: { required_bytes: 64 * MiB },
          volume_capabilities: [mountCapability()],
        })
      ).volume!;
      call(first.clients.controller, 'CreateSnapshot', { name: 'orphaned', source_volume_id: vol.volume_id! }, { timeoutMs: 30_000 }).catch(
        () => undefined,
      );
      await first.waitForFaultPoint('create-snapshot:after-image');
      await first.kill();
      const second = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool, label: 'restarted' });
      const capWithReservation = Number((await call(second.clients.controller, 'GetCapacity', {})).available_capacity);
      await call(second.clients.controller, 'DeleteVolume', { volume_id: vol.volume_id! });
      await rejectsWithCode(
        call(second.clients.controller, 'CreateSnapshot', { name: 'orphaned', source_volume_id: vol.volume_id! }),
        grpc.status.NOT_FOUND,
      );
      assert.deepEqual(
        (await readdir(join(pool, 'snapshots'))).filter((n) => !n.startsWith('.')),
        [],
      );
      assert.ok(Number((await call(second.clients.controller, 'GetCapacity', {})).available_capacity) >= capWithReservation + 64 * MiB);
    });
  });
}
