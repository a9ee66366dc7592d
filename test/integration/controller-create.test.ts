/**
 * CreateVolume through a real `quarry controller` process over its socket, on a pool on a
 * loop-mounted XFS and on a loop-mounted ext4 made by the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { FS_MINIMUM_BYTES } from '../../src/services/controller/fs-minimum.js';
import { preallocate } from '../../src/host/fallocate.js';
import { DEFAULT_VOLUME_SIZE } from '../../src/services/capacity-range.js';
import { call } from '../helpers/grpc-client.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { rejectsWithCode, scratchPoolDir, startQuarry, type QuarryProcess } from '../helpers/quarry-process.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];
const TOPOLOGY_KEY = 'topology.quarry.csi.dev/node';

for (const fsType of ['xfs', 'ext4'] as const) {
  describe(`CreateVolume on a ${fsType} pool`, () => {
    // Registered now, while the suite is being defined, so cleanup runs after the suite's tests.
    const suite = { after };
    onCleanup(suite, () => undefined);
    let q: QuarryProcess;
    let pool: string;
    const create = (name: string, extra: Record<string, unknown> = {}) =>
      call(q.clients.controller, 'CreateVolume', { name, volume_capabilities: RW, ...extra } as any, { timeoutMs: 60_000 });
    const record = async (id: string) => JSON.parse(await readFile(join(pool, 'volumes', `${id}.json`), 'utf8'));
    const capacity = async () => call(q.clients.controller, 'GetCapacity', {} as any);

    before(async () => {
      const sock = await makeTempDir(suite, 'sock');
      // 2 GiB: the suite also creates xfs and btrfs volumes at their mkfs minimum (300 and 114 MiB).
      ({ path: pool } = await scratchPoolDir(suite, { fsType, sizeBytes: 2 * GiB }));
      q = await startQuarry(suite, {
        role: 'controller',
        dir: sock,
        args: ['--nodeid', 'node-a', '--pool', pool, '--overprovisioning', '4'],
      });
    });

    test('is idempotent by name; another size, provisioning, fstype or pool is ALREADY_EXISTS', async () => {
      const range = { required_bytes: 10 * MiB };
      const first = (await create('idem', { capacity_range: range })).volume!;
      const again = (await create('idem', { capacity_range: range })).volume!;
      assert.equal(again.volume_id, first.volume_id);
      assert.equal(Number(again.capacity_bytes), 10 * MiB);
      assert.equal(Number(first.capacity_bytes), 10 * MiB);
      await rejectsWithCode(create('idem', { capacity_range: { required_bytes: 20 * MiB } }), status.ALREADY_EXISTS);
      await rejectsWithCode(create('idem', { capacity_range: range, parameters: { provisioning: 'thick' } }), status.ALREADY_EXISTS);
      await rejectsWithCode(
        create('idem', { capacity_range: range, parameters: { 'csi.storage.k8s.io/fstype': 'xfs' } }),
        status.ALREADY_EXISTS,
      );
      await rejectsWithCode(
        create('idem', { capacity_range: range, volume_content_source: { volume: { volume_id: first.volume_id } } }),
        status.ALREADY_EXISTS,
      );
      const images = (await readdir(join(pool, 'volumes'))).filter((f) => f.startsWith(first.volume_id));
      assert.deepEqual(images.sort(), [`${first.volume_id}.img`, `${first.volume_id}.json`]);
    });

    test('capacity_range rounds up to whole MiB within limit_bytes; no range gives the default size', async () => {
      assert.equal(Number((await create('r-one-byte', { capacity_range: { required_bytes: 1 } })).volume!.capacity_bytes), MiB);
      const v = (await create('r-round', { capacity_range: { required_bytes: MiB + 1, limit_bytes: 3 * MiB } })).volume!;
      assert.equal(Number(v.capacity_bytes), 2 * MiB);
      assert.equal((await stat(join(pool, 'volumes', `${v.volume_id}.img`))).size, 2 * MiB);
      await rejectsWithCode(
        create('r-no-mib', { capacity_range: { required_bytes: MiB + 1, limit_bytes: MiB + MiB / 2 } }),
        status.OUT_OF_RANGE,
      );
      await rejectsWithCode(
        create('r-inverted', { capacity_range: { required_bytes: 5 * MiB, limit_bytes: 4 * MiB } }),
        status.OUT_OF_RANGE,
      );
      const d = (await create('r-default')).volume!;
      assert.equal(Number(d.capacity_bytes), DEFAULT_VOLUME_SIZE);
      const limited = (await create('r-limit-only', { capacity_range: { limit_bytes: 7 * MiB + 5 } })).volume!;
      assert.equal(Number(limited.capacity_bytes), 7 * MiB);
    });

    test('above the pool maximum is OUT_OF_RANGE; more than can still be promised is RESOURCE_EXHAUSTED', async () => {
      const st = await statfs(pool);
      const poolMax = Math.floor((st.blocks * st.bsize * 4) / MiB) * MiB; // --overprovisioning 4
      await rejectsWithCode(create('too-big', { capacity_range: { required_bytes: poolMax + MiB } }), status.OUT_OF_RANGE, /can ever hold/);
      // The default-size volume of the previous test is promised, so the pool cannot promise its whole size again.
      const before = (await readdir(join(pool, 'volumes'))).sort();
      await rejectsWithCode(
        create('exhausted', { capacity_range: { required_bytes: poolMax } }),
        status.RESOURCE_EXHAUSTED,
        /can still be promised/,
      );
      const available = Number((await capacity()).available_capacity);
      await rejectsWithCode(create('exhausted', { capacity_range: { required_bytes: available + MiB } }), status.RESOURCE_EXHAUSTED);
      assert.deepEqual((await readdir(join(pool, 'volumes'))).sort(), before, 'a refused create leaves nothing behind');
    });

    test('thin volumes are sparse and thick volumes are fully allocated', async () => {
      const size = 64 * MiB;
      const thin = (await create('thin-1', { capacity_range: { required_bytes: size } })).volume!;
      const thick = (await create('thick-1', { capacity_range: { required_bytes: size }, parameters: { provisioning: 'thick' } })).volume!;
      const thinSt = await stat(join(pool, 'volumes', `${thin.volume_id}.img`));
      const thickSt = await stat(join(pool, 'volumes', `${thick.volume_id}.img`));
      assert.equal(thinSt.size, size);
      assert.ok(thinSt.blocks * 512 <= 64 * 1024, `thin image allocates ${thinSt.blocks * 512} bytes`);
      assert.equal(thickSt.size, size);
      assert.ok(thickSt.blocks * 512 >= size, `thick image allocates only ${thickSt.blocks * 512} bytes`);
      assert.equal((await record(thin.volume_id)).provisioning, 'thin');
      assert.equal((await record(thick.volume_id)).provisioning, 'thick');
    });

    test('a thick volume larger than the free space is RESOURCE_EXHAUSTED and leaves nothing', async () => {
      const cap = await capacity();
      const free = statfs(pool).then((s) => s.bavail * s.bsize);
      const size = Math.ceil(((await free) + 16 * MiB) / MiB) * MiB;
      assert.ok(size <= Number(cap.available_capacity), 'the thin promise alone would allow it (overprovisioning 4)');
      const before = (await readdir(join(pool, 'volumes'))).sort();
      await rejectsWithCode(
        create('thick-huge', { capacity_range: { required_bytes: size }, parameters: { provisioning: 'thick' } }),
        status.RESOURCE_EXHAUSTED,
        /free/,
      );
      assert.deepEqual((await readdir(join(pool, 'volumes'))).sort(), before);
    });

    test('parameters: fstype, provisioning and the PVC/PV names are kept in the record', async () => {
      // Each at its filesystem's smallest size (a smaller one could never be staged).
      for (const fs of ['xfs', 'btrfs', 'ext4'] as const) {
        const v = (
          await create(`fs-${fs}`, {
            capacity_range: { required_bytes: FS_MINIMUM_BYTES[fs] },
            parameters: { 'csi.storage.k8s.io/fstype': fs },
          })
        ).volume!;
        assert.equal((await record(v.volume_id)).fsType, fs);
      }
      const dflt = (await create('fs-default', { capacity_range: { required_bytes: MiB } })).volume!;
      const r0 = await record(dflt.volume_id);
      assert.equal(r0.fsType, 'ext4');
      assert.equal(r0.provisioning, 'thin');
      const k8s = (
        await create('pvc-1234', {
          capacity_range: { required_bytes: MiB },
          parameters: {
            pool: 'default',
            'csi.storage.k8s.io/pvc/name': 'data',
            'csi.storage.k8s.io/pvc/namespace': 'team-a',
            'csi.storage.k8s.io/pv/name': 'pvc-1234',
          },
        })
      ).volume!;
      const r = await record(k8s.volume_id);
      assert.deepEqual(r.kubernetes, { pvcName: 'data', pvcNamespace: 'team-a', pvName: 'pvc-1234' });
      assert.equal(r.name, 'pvc-1234');
      assert.equal(r.pool, 'default');
      const err = await rejectsWithCode(create('bad-param', { parameters: { speed: 'fast' } }), status.INVALID_ARGUMENT);
      for (const key of ['pool', 'csi.storage.k8s.io/fstype', 'provisioning'])
        assert.match(err.details, new RegExp(key.replace(/[./]/g, '\\$&')));
      await rejectsWithCode(create('bad-fs', { parameters: { 'csi.storage.k8s.io/fstype': 'ntfs' } }), status.INVALID_ARGUMENT);
      await rejectsWithCode(create('bad-prov', { parameters: { provisioning: 'lazy' } }), status.INVALID_ARGUMENT);
      await rejectsWithCode(create('bad-pool', { parameters: { pool: 'nope' } }), status.INVALID_ARGUMENT, /unknown pool/);
    });

    test('volume_capabilities: multi-node writers, block multi-node and a missing access mode are refused', async () => {
      const mount = (mode: string) => [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode } }];
      for (const mode of ['MULTI_NODE_MULTI_WRITER', 'MULTI_NODE_SINGLE_WRITER']) {
        await rejectsWithCode(
          create('caps', { volume_capabilities: mount(mode) }),
          status.INVALID_ARGUMENT,
          new RegExp(`${mode} is refused.*single-node`),
        );
      }
      await rejectsWithCode(
        create('caps', { volume_capabilities: [{ block: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } }] }),
        status.INVALID_ARGUMENT,
        /block volumes support single-node/,
      );
      await rejectsWithCode(
        create('caps', { volume_capabilities: [{ mount: { fs_type: '', mount_flags: [] } }] }),
        status.INVALID_ARGUMENT,
        /access_mode/,
      );
      await rejectsWithCode(create('caps', { volume_capabilities: [] }), status.INVALID_ARGUMENT);
      for (const mode of ['SINGLE_NODE_WRITER', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER', 'MULTI_NODE_READER_ONLY']) {
        await create(`caps-${mode.toLowerCase()}`, { capacity_range: { required_bytes: MiB }, volume_capabilities: mount(mode) });
      }
      await create('caps-block', {
        capacity_range: { required_bytes: MiB },
        volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
      });
      await assert.rejects(readFile(join(pool, 'volumes', 'caps.json')));
    });

    test('local mode: the volume is on this node; a requisite topology without it is RESOURCE_EXHAUSTED', async () => {
      const v = (await create('topo', { capacity_range: { required_bytes: MiB } })).volume!;
      assert.deepEqual(v.accessible_topology, [{ segments: { [TOPOLOGY_KEY]: 'node-a' } }]);
      const here = (
        await create('topo-here', {
          capacity_range: { required_bytes: MiB },
          accessibility_requirements: {
            requisite: [{ segments: { [TOPOLOGY_KEY]: 'node-b' } }, { segments: { [TOPOLOGY_KEY]: 'node-a' } }],
          },
        })
      ).volume!;
      assert.equal(here.accessible_topology![0]!.segments![TOPOLOGY_KEY], 'node-a');
      await rejectsWithCode(
        create('topo-elsewhere', {
          capacity_range: { required_bytes: MiB },
          accessibility_requirements: {
            requisite: [{ segments: { [TOPOLOGY_KEY]: 'node-b' } }],
            preferred: [{ segments: { [TOPOLOGY_KEY]: 'node-b' } }],
          },
        }),
        status.RESOURCE_EXHAUSTED,
      );
    });
  });

  describe(`several pools and shared mode on ${fsType}`, () => {
    test('--pool fast=/a --pool slow=/b: the parameter picks; unknown or missing is INVALID_ARGUMENT', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { fs } = await scratchPoolDir(t, { fsType }, 'fast');
      const slow = join(fs.mountPath, 'slow');
      await mkdir(slow);
      const fast = join(fs.mountPath, 'fast');
      const q = await startQuarry(t, {
        role: 'controller',
        dir: sock,
        args: ['--nodeid', 'node-a', '--pool', `fast=${fast}`, '--pool', `slow=${slow}`],
      });
      const create = (name: string, parameters: Record<string, string>) =>
        call(q.clients.controller, 'CreateVolume', {
          name,
          volume_capabilities: RW,
          capacity_range: { required_bytes: MiB },
          parameters,
        } as any);
      const a = (await create('on-fast', { pool: 'fast' })).volume!;
      const b = (await create('on-slow', { pool: 'slow' })).volume!;
      await stat(join(fast, 'volumes', `${a.volume_id}.img`));
      await stat(join(slow, 'volumes', `${b.volume_id}.img`));
      await assert.rejects(stat(join(slow, 'volumes', `${a.volume_id}.img`)));
      assert.equal(a.volume_context!.pool, 'fast');
      await rejectsWithCode(create('on-none', { pool: 'medium' }), status.INVALID_ARGUMENT, /unknown pool "medium".*fast, slow/);
      await rejectsWithCode(create('on-none', {}), status.INVALID_ARGUMENT, /several pools.*"pool"/);
      const capFast = await call(q.clients.controller, 'GetCapacity', { parameters: { pool: 'fast' } } as any);
      assert.ok(Number(capFast.available_capacity) > 0);
      await rejectsWithCode(call(q.clients.controller, 'GetCapacity', {} as any), status.INVALID_ARGUMENT);
    });

    test('--shared: volumes carry no topology', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { path } = await scratchPoolDir(t, { fsType });
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--shared', '--pool', path] });
      const v = (
        await call(q.clients.controller, 'CreateVolume', {
          name: 'shared-1',
          volume_capabilities: RW,
          capacity_range: { required_bytes: MiB },
        } as any)
      ).volume!;
      assert.deepEqual(v.accessible_topology, []);
      // A topology requirement does not exclude a shared pool.
      await call(q.clients.controller, 'CreateVolume', {
        name: 'shared-2',
        volume_capabilities: RW,
        capacity_range: { required_bytes: MiB },
        accessibility_requirements: { requisite: [{ segments: { [TOPOLOGY_KEY]: 'node-b' } }] },
      } as any);
    });
  });

  describe(`a full pool filesystem on ${fsType}`, () => {
    test('a thin create whose record cannot be written is RESOURCE_EXHAUSTED, leaves nothing, and the process lives', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { path, fs } = await scratchPoolDir(t, { fsType, sizeBytes: fsType === 'xfs' ? 320 * MiB : 96 * MiB });
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'node-a', '--pool', path] });
      const thick = { volume_capabilities: RW, capacity_range: { required_bytes: 16 * MiB }, parameters: { provisioning: 'thick' } };
      const keep = (await call(q.clients.controller, 'CreateVolume', { name: 'before-full', ...thick } as any)).volume!;
      const snap = (
        await call(q.clients.controller, 'CreateSnapshot', { name: 'before-full-snap', source_volume_id: keep.volume_id } as any)
      ).snapshot!;
      await fillUp(fs.mountPath);
      await rejectsWithCode(
        call(q.clients.controller, 'CreateVolume', {
          name: 'on-full',
          volume_capabilities: RW,
          capacity_range: { required_bytes: MiB },
        } as any),
        status.RESOURCE_EXHAUSTED,
        /no space/,
      );
      assert.deepEqual((await readdir(join(path, 'volumes'))).filter((f) => !f.startsWith('.')).sort(), [
        `${keep.volume_id}.img`,
        `${keep.volume_id}.json`,
      ]);
      await call(q.clients.identity, 'Probe', {});
      // Deleting is how an admin frees a full pool, so it must work on one: for snapshots and volumes alike.
      await call(q.clients.controller, 'DeleteSnapshot', { snapshot_id: snap.snapshot_id } as any);
      assert.deepEqual(
        (await readdir(join(path, 'snapshots'))).filter((f) => !f.startsWith('.')),
        [],
      );
      await call(q.clients.controller, 'DeleteVolume', { volume_id: keep.volume_id } as any);
      assert.deepEqual(
        (await readdir(join(path, 'volumes'))).filter((f) => !f.startsWith('.')),
        [],
      );
    });

    test('a pool that filled up before its first request still answers RESOURCE_EXHAUSTED', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { path, fs } = await scratchPoolDir(t, { fsType, sizeBytes: fsType === 'xfs' ? 320 * MiB : 96 * MiB });
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'node-a', '--pool', path] });
      await fillUp(fs.mountPath);
      await rejectsWithCode(
        call(q.clients.controller, 'CreateVolume', {
          name: 'first-on-full',
          volume_capabilities: RW,
          capacity_range: { required_bytes: MiB },
        } as any),
        status.RESOURCE_EXHAUSTED,
      );
    });
  });

  describe(`thick create that hits a real ENOSPC on ${fsType}`, () => {
    test('RESOURCE_EXHAUSTED with no image, no record and no partial file left', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { path } = await scratchPoolDir(t, { fsType, sizeBytes: fsType === 'xfs' ? 320 * MiB : 96 * MiB });
      // The fault point holds the create after its promise check; the test then eats the free
      // space, so fallocate itself fails with ENOSPC (the check alone cannot see the future).
      const q = await startQuarry(t, {
        role: 'controller',
        dir: sock,
        args: ['--nodeid', 'node-a', '--pool', path, '--overprovisioning', '10'],
        env: { QUARRY_FAULT_POINT: 'create-volume:after-record' },
      });
      const st = await statfs(path);
      const free = st.bavail * st.bsize;
      const size = Math.floor(free / 2 / MiB) * MiB;
      const pending = call(
        q.clients.controller,
        'CreateVolume',
        {
          name: 'thick-enospc',
          volume_capabilities: RW,
          capacity_range: { required_bytes: size },
          parameters: { provisioning: 'thick' },
        } as any,
        { timeoutMs: 60_000 },
      );
      await q.waitForFaultPoint('create-volume:after-record');
      const filler = join(path, '..', 'filler');
      // Leave half of what the volume needs.
      await preallocate(filler, ((Math.floor(free / MiB) - size / MiB / 2) * MiB) as any);
      q.resume();
      await rejectsWithCode(pending, status.RESOURCE_EXHAUSTED, /no space left.*free space/);
      assert.deepEqual(await readdir(join(path, 'volumes')), []);
      // The process is still serving.
      await call(q.clients.identity, 'Probe', {});
    });
  });
}

/** Fills a filesystem to its last block: a big file, then ever smaller ones until ENOSPC. */
async function fillUp(dir: string): Promise<void> {
  const st = await statfs(dir);
  await preallocate(join(dir, 'filler'), ((Math.floor((st.bavail * st.bsize) / MiB) - 1) * MiB) as any);
  let i = 0;
  for (const chunk of [64 * 1024, 4096, 512]) {
    for (;;) {
      try {
        await writeFile(join(dir, `filler-${i++}`), Buffer.alloc(chunk, 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}
