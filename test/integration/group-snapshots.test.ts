// Group snapshots hold one instant of all their members (design: Group snapshots). A writer puts
// the same counter k into a file on volume A, fsyncs, then into a file on volume B, fsyncs, over
// and over: at every instant the disks hold A = B or A = B + 1 (the round in flight). A group
// whose members show anything else, above all B > A, was copied one member after the other.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { access, mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, startQuarry } from '../helpers/quarry-process.js';
import { makeScratchFs, onCleanup } from '../helpers/scratch.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

const FILL = 96 * MiB;
const BLOCK = 4096;
const ROUNDS = 3;

/** Fills each file (so a sparse copy takes a while), then writes counters in lockstep until stopped. */
async function startLockstepWriter(paths: [string, string]) {
  const fds = await Promise.all(paths.map((p) => open(p, 'w+')));
  const chunk = Buffer.alloc(4 * MiB);
  for (const fd of fds) {
    for (let off = BLOCK; off < FILL; off += chunk.length) await fd.write(randomFillSync(chunk), 0, chunk.length, off);
    await fd.sync();
  }
  let stop = false;
  let k = 0;
  const done = (async () => {
    while (!stop) {
      k++;
      const b = Buffer.alloc(BLOCK);
      b.write(`${k}`.padStart(16, '0'));
      for (const fd of fds) {
        await fd.write(b, 0, BLOCK, 0);
        await fd.sync();
      }
    }
    for (const fd of fds) await fd.close();
  })();
  return {
    get count() {
      return k;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function readCounter(path: string): Promise<number> {
  const fd = await open(path, 'r');
  try {
    const b = Buffer.alloc(16);
    await fd.read(b, 0, 16, 0);
    return Number(b.toString());
  } finally {
    await fd.close();
  }
}

for (const pool of [
  { fsType: 'ext4' as const, reflink: false },
  { fsType: 'xfs' as const, reflink: true },
]) {
  describe(`group snapshots on a ${pool.fsType} pool${pool.reflink ? ' with reflink' : ' without reflink'}`, () => {
    test('members written in lockstep under load hold one instant; the group is idempotent, restores and deletes', async (t) => {
      const fs = await makeScratchFs(t, { fsType: pool.fsType, sizeBytes: 3 * GiB, reflink: pool.reflink });
      const poolDir = join(fs.mountPath, 'pool');
      const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: poolDir });
      const c = q.clients.controller;
      const g = q.clients.groupController;
      const caps = await call(g, 'GroupControllerGetCapabilities', {});
      assert.deepEqual(
        caps.capabilities!.map((x) => x.rpc?.type),
        ['CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT'],
      );

      const vols: string[] = [];
      for (const name of ['data', 'wal']) {
        vols.push(
          (
            await call(c, 'CreateVolume', {
              name,
              capacity_range: { required_bytes: 160 * MiB },
              volume_capabilities: [mountCapability('ext4')],
            })
          ).volume!.volume_id!,
        );
      }
      const pubs = [await stageAndPublish(t, q.clients, vols[0]!, fs.dir), await stageAndPublish(t, q.clients, vols[1]!, fs.dir)];
      const writer = await startLockstepWriter([join(pubs[0]!.targetPath, 'counter.bin'), join(pubs[1]!.targetPath, 'counter.bin')]);
      let stopped = false;
      onCleanup(t, () => (stopped ? undefined : writer.stop()));

      const groups: Array<{ id: string; snapshots: string[] }> = [];
      for (let i = 0; i < ROUNDS; i++) {
        const before = writer.count;
        const res = (await call(g, 'CreateVolumeGroupSnapshot', { name: `group-${i}`, source_volume_ids: vols }, { timeoutMs: 120_000 }))
          .group_snapshot!;
        assert.equal(res.ready_to_use, true);
        assert.equal(res.snapshots!.length, 2);
        for (const s of res.snapshots!) assert.equal(s.group_snapshot_id, res.group_snapshot_id, 'each member names its group');
        // Idempotent by name: the same group, the same members, the same instant.
        const again = (await call(g, 'CreateVolumeGroupSnapshot', { name: `group-${i}`, source_volume_ids: [...vols].reverse() }))
          .group_snapshot!;
        assert.deepEqual(again, res);
        groups.push({ id: res.group_snapshot_id!, snapshots: res.snapshots!.map((s) => s.snapshot_id!) });
        await new Promise((r) => setTimeout(r, 50));
        assert.ok(writer.count > before, 'the writer kept writing while the group was cut');
      }
      await writer.stop();
      stopped = true;

      // Members restore like any snapshot; each pair shows one instant of both volumes.
      for (const [i, grp] of groups.entries()) {
        const got = (await call(g, 'GetVolumeGroupSnapshot', { group_snapshot_id: grp.id, snapshot_ids: grp.snapshots })).group_snapshot!;
        assert.deepEqual(
          got.snapshots!.map((s) => s.snapshot_id),
          grp.snapshots,
        );
        const counters = new Map<string, number>();
        for (const s of got.snapshots!) {
          const restored = (
            await call(
              c,
              'CreateVolume',
              {
                name: `restored-${i}-${s.snapshot_id}`,
                volume_capabilities: [mountCapability()],
                volume_content_source: { snapshot: { snapshot_id: s.snapshot_id! } },
              },
              { timeoutMs: 120_000 },
            )
          ).volume!;
          const p = await stageAndPublish(t, q.clients, restored.volume_id!, fs.dir);
          counters.set(s.source_volume_id!, await readCounter(join(p.targetPath, 'counter.bin')));
          await p.release();
          await call(c, 'DeleteVolume', { volume_id: restored.volume_id! });
        }
        const a = counters.get(vols[0]!)!;
        const b = counters.get(vols[1]!)!;
        assert.ok(a > 0, `group ${i} holds the writer's data`);
        assert.ok(a === b || a === b + 1, `group ${i} is not one instant: data holds counter ${a}, wal holds ${b}`);
      }

      // A different set of sources under a used name is another group: refused.
      await rejectsWithCode(
        call(g, 'CreateVolumeGroupSnapshot', { name: 'group-0', source_volume_ids: [vols[0]!] }),
        grpc.status.ALREADY_EXISTS,
        /group-0 already exists/,
      );
      await rejectsWithCode(
        call(g, 'GetVolumeGroupSnapshot', { group_snapshot_id: groups[0]!.id, snapshot_ids: ['snap-aaaaaaaaaaaaaaaaaaaa'] }),
        grpc.status.INVALID_ARGUMENT,
        /not a member/,
      );
      await rejectsWithCode(
        call(g, 'CreateVolumeGroupSnapshot', { name: 'ghost', source_volume_ids: [vols[0]!, 'vol-aaaaaaaaaaaaaaaaaaaa'] }),
        grpc.status.NOT_FOUND,
        /vol-aaaaaaaaaaaaaaaaaaaa does not exist/,
      );

      for (const grp of groups) {
        await call(g, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: grp.id, snapshot_ids: grp.snapshots });
        await call(g, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: grp.id, snapshot_ids: grp.snapshots });
        await rejectsWithCode(call(g, 'GetVolumeGroupSnapshot', { group_snapshot_id: grp.id }), grpc.status.NOT_FOUND);
      }
      assert.deepEqual(
        (await readdir(join(poolDir, 'snapshots'))).filter((f) => f.endsWith('.img') || f.endsWith('.partial')),
        [],
        'no member image is left',
      );
    });
  });
}

describe('a group snapshot that fails', () => {
  test('thaws every member and leaves no member behind', async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 2 * GiB, reflink: false });
    const poolDir = join(fs.mountPath, 'pool');
    // A freeze limit no copy can meet: the group is given up after its members were frozen.
    const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: poolDir, env: { QUARRY_MAX_FREEZE_MS: '1' } });
    const c = q.clients.controller;
    const vols: string[] = [];
    for (const name of ['a', 'b'])
      vols.push(
        (
          await call(c, 'CreateVolume', {
            name,
            capacity_range: { required_bytes: 160 * MiB },
            volume_capabilities: [mountCapability('ext4')],
          })
        ).volume!.volume_id!,
      );
    const pubs = [];
    for (const v of vols) {
      const p = await stageAndPublish(t, q.clients, v, fs.dir);
      const fd = await open(join(p.targetPath, 'fill.bin'), 'w');
      await fd.write(randomFillSync(Buffer.alloc(64 * MiB)));
      await fd.sync();
      await fd.close();
      pubs.push(p);
    }
    await rejectsWithCode(
      call(q.clients.groupController, 'CreateVolumeGroupSnapshot', { name: 'late', source_volume_ids: vols }, { timeoutMs: 120_000 }),
      grpc.status.ABORTED,
      /freeze limit/,
    );
    assert.equal((await call(c, 'ListSnapshots', {})).entries!.length, 0, 'no member of the failed group is left');
    assert.deepEqual(
      (await readdir(join(poolDir, 'snapshots'))).filter((f) => !f.startsWith('.')),
      [],
    );
    // Both filesystems are thawed: a write and fsync on each returns.
    for (const p of pubs) {
      const fd = await open(join(p.targetPath, 'after.bin'), 'w');
      await fd.write('thawed');
      await fd.sync();
      await fd.close();
    }
  });

  test('two members in use where they cannot be frozen are refused; one alone is cut by its atomic reflink', async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 2 * GiB, reflink: true });
    const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
    const c = q.clients.controller;
    // A raw block device cannot be frozen: used from two volumes, their reflinks would hold two instants.
    const BLOCK_CAP = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
    const vols: string[] = [];
    const unstage: Array<() => Promise<unknown>> = [];
    for (const name of ['raw-a', 'raw-b']) {
      const id = (await call(c, 'CreateVolume', { name, capacity_range: { required_bytes: 64 * MiB }, volume_capabilities: [BLOCK_CAP] }))
        .volume!.volume_id!;
      const staging = join(fs.dir, `staging-${name}`);
      await mkdir(staging);
      await call(q.clients.node, 'NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: BLOCK_CAP });
      let done = false;
      const off = async () => {
        if (done) return;
        done = true;
        await call(q.clients.node, 'NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
      };
      onCleanup(t, off);
      unstage.push(off);
      vols.push(id);
    }
    const g = q.clients.groupController;
    await rejectsWithCode(
      call(g, 'CreateVolumeGroupSnapshot', { name: 'both-raw', source_volume_ids: vols }),
      grpc.status.FAILED_PRECONDITION,
      new RegExp(`one instant.*${[...vols].sort().join(', ')}`),
    );
    assert.equal((await call(c, 'ListSnapshots', {})).entries!.length, 0, 'a refused group leaves nothing');
    await unstage[1]!();
    const ok = (await call(g, 'CreateVolumeGroupSnapshot', { name: 'one-raw', source_volume_ids: vols })).group_snapshot!;
    assert.equal(ok.snapshots!.length, 2);
    await call(g, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: ok.group_snapshot_id! });
  });

  test('members in two pools are refused, naming the volumes in each pool', async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 2 * GiB, reflink: true });
    const fast = join(fs.mountPath, 'fast');
    const slow = join(fs.mountPath, 'slow');
    await mkdir(fast);
    await mkdir(slow);
    const q = await startQuarry(t, {
      role: 'controller',
      dir: fs.dir,
      args: ['--nodeid', 'node-1', '--pool', `fast=${fast}`, '--pool', `slow=${slow}`, '--log-level', 'warn'],
    });
    const c = q.clients.controller;
    const a = (
      await call(c, 'CreateVolume', {
        name: 'a',
        capacity_range: { required_bytes: 64 * MiB },
        volume_capabilities: [mountCapability()],
        parameters: { pool: 'fast' },
      })
    ).volume!.volume_id!;
    const b = (
      await call(c, 'CreateVolume', {
        name: 'b',
        capacity_range: { required_bytes: 64 * MiB },
        volume_capabilities: [mountCapability()],
        parameters: { pool: 'slow' },
      })
    ).volume!.volume_id!;
    await rejectsWithCode(
      call(q.clients.groupController, 'CreateVolumeGroupSnapshot', { name: 'split', source_volume_ids: [a, b] }),
      grpc.status.INVALID_ARGUMENT,
      new RegExp(`one pool.*pool fast: ${a}; pool slow: ${b}|one pool.*pool slow: ${b}; pool fast: ${a}`),
    );
    await assert.rejects(access(join(fast, 'snapshots', 'x')));
    assert.equal((await call(c, 'ListSnapshots', {})).entries!.length, 0);
  });
});
