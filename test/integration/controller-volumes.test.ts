/**
 * DeleteVolume, ValidateVolumeCapabilities, ControllerGetCapabilities, ControllerGetVolume,
 * ListVolumes, GetCapacity and corrupt records, through real `quarry` processes over their
 * sockets, on pools on loop-mounted XFS and ext4.
 */
import { after, before, describe, test } from 'node:test';
import { capacityMargin } from '../../src/storage/capacity.js';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, statfs, truncate, unlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { status } from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { call } from '../helpers/grpc-client.js';
import { onCleanup } from '../helpers/scratch.js';
import { rejectsWithCode, startQuarry, type QuarryProcess } from '../helpers/quarry-process.js';
import type { ScratchFs } from '../helpers/scratch.js';
import { createVolume, publicationOnNodeA, RW, startControllerPool } from '../helpers/controller-pool.js';
const TOPOLOGY_KEY = 'topology.quarry.csi.dev/node';

/** Every path below `root`, sorted, for before/after comparisons. */
async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.map((e) => relative(root, join(root, e))).sort();
}

for (const fsType of ['xfs', 'ext4'] as const) {
  describe(`controller volume RPCs on a ${fsType} pool`, () => {
    const suite = { after };
    onCleanup(suite, () => undefined);
    let q: QuarryProcess;
    let pool: string;
    let fs: ScratchFs;
    let sock: string;
    const ctl = () => q.clients.controller;
    const create = (name: string, size = MiB) => createVolume(ctl(), name, size);
    const del = (volume_id: string) => call(ctl(), 'DeleteVolume', { volume_id } as any);
    const recordPath = (id: string) => join(pool, 'volumes', `${id}.json`);
    const imagePath = (id: string) => join(pool, 'volumes', `${id}.img`);

    before(async () => {
      ({ sock, fs, pool, q } = await startControllerPool(suite, fsType));
    });

    test("DeleteVolume is idempotent and removes only the volume's own files", async () => {
      const keep = await create('del-keep');
      const gone = await create('del-gone');
      const before = await tree(pool);
      await del(gone.volume_id);
      await del(gone.volume_id);
      const expected = before.filter((p) => !p.startsWith(`volumes/${gone.volume_id}.`));
      assert.deepEqual(await tree(pool), expected);
      assert.ok(expected.includes(`volumes/${keep.volume_id}.img`));
      await del(volumeIdForName('never-created'));
    });

    test('DeleteVolume of a malformed ID succeeds and touches nothing', async () => {
      // Canaries where each malformed ID would point if it were ever joined into a path.
      const canaries = [
        join(pool, 'canary.img'),
        join(pool, 'canary.json'),
        join(fs.mountPath, 'outside.img'),
        join(fs.mountPath, 'outside.json'),
      ];
      await mkdir(join(pool, 'volumes', 'vol-..'), { recursive: true });
      canaries.push(join(pool, 'volumes', 'vol-..', 'x.img'), join(pool, 'volumes', 'vol-..', 'x.json'));
      for (const c of canaries) await writeFile(c, 'canary');
      const before = await tree(fs.mountPath);
      for (const id of [
        '../canary',
        '../../outside',
        'vol-../x',
        `${volumeIdForName('a')}/../../canary`,
        'VOL-AAAAAAAAAAAAAAAAAAAA',
        'vol-aaaa',
        ' ',
      ]) {
        await del(id);
      }
      await rejectsWithCode(del(''), status.INVALID_ARGUMENT);
      for (const c of canaries) assert.equal(await readFile(c, 'utf8'), 'canary', `${c} survives`);
      assert.deepEqual(await tree(fs.mountPath), before);
      for (const c of canaries) await unlink(c);
    });

    test('DeleteVolume is FAILED_PRECONDITION while a real node has the volume staged', async (t) => {
      const v = await create('del-staged', 64 * MiB);
      const node = await startQuarry(t, { role: 'node', dir: sock, args: ['--nodeid', 'node-a', '--pool', pool] });
      const stagingPath = join(fs.dir, 'stage-del');
      const stage = { volume_id: v.volume_id, staging_target_path: stagingPath, volume_capability: RW[0] };
      await call(node.clients.node, 'NodeStageVolume', stage as any, { timeoutMs: 60_000 });
      const before = await tree(pool);
      await rejectsWithCode(del(v.volume_id), status.FAILED_PRECONDITION, /staged on node-a.*unstage/);
      assert.deepEqual(await tree(pool), before, 'a refused delete removes nothing');
      await call(node.clients.node, 'NodeUnstageVolume', { volume_id: v.volume_id, staging_target_path: stagingPath } as any, {
        timeoutMs: 60_000,
      });
      await del(v.volume_id);
      await assert.rejects(readFile(imagePath(v.volume_id)));
    });

    test('DeleteVolume is FAILED_PRECONDITION while the record shows a publication', async () => {
      const v = await create('del-published');
      const r = JSON.parse(await readFile(recordPath(v.volume_id), 'utf8'));
      r.publications = [publicationOnNodeA()];
      await writeFile(recordPath(v.volume_id), JSON.stringify(r));
      await rejectsWithCode(del(v.volume_id), status.FAILED_PRECONDITION, /published on node-a/);
      await readFile(imagePath(v.volume_id));
      r.publications = [];
      await writeFile(recordPath(v.volume_id), JSON.stringify(r));
      await del(v.volume_id);
    });

    test('ValidateVolumeCapabilities confirms what the volume supports and refuses the rest', async () => {
      const v = await create('validate');
      const validate = (volume_capabilities: unknown[], volume_id = v.volume_id) =>
        call(ctl(), 'ValidateVolumeCapabilities', { volume_id, volume_capabilities, volume_context: {}, parameters: {} } as any);
      const ok = await validate(RW);
      assert.equal(ok.confirmed?.volume_capabilities?.length, 1);
      const multi = await validate([{ mount: { fs_type: '' }, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }]);
      assert.equal(multi.confirmed, null);
      assert.match(multi.message, /MULTI_NODE_MULTI_WRITER is refused/);
      const wrongFs = await validate([{ mount: { fs_type: 'xfs' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }]);
      assert.equal(wrongFs.confirmed, null);
      assert.match(wrongFs.message, /ext4, not xfs/);
      await rejectsWithCode(validate(RW, volumeIdForName('nope')), status.NOT_FOUND);
      await rejectsWithCode(validate(RW, '../../etc'), status.NOT_FOUND);
      await rejectsWithCode(validate([]), status.INVALID_ARGUMENT);
    });

    test('ControllerGetCapabilities is truthful: a controller with no --pool claims nothing', async (t) => {
      const caps = (await call(ctl(), 'ControllerGetCapabilities', {})).capabilities.map((c) => c.rpc!.type);
      for (const c of ['CREATE_DELETE_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'GET_VOLUME', 'VOLUME_CONDITION'])
        assert.ok(caps.includes(c as any), c);
      assert.ok(!caps.includes('EXPAND_VOLUME' as any), 'local mode leaves expansion to the node');
      const stub = await startQuarry(t, { role: 'controller', dir: sock });
      assert.deepEqual((await call(stub.clients.controller, 'ControllerGetCapabilities', {})).capabilities, []);
      await rejectsWithCode(
        call(stub.clients.controller, 'CreateVolume', { name: 'x', volume_capabilities: RW } as any),
        status.UNIMPLEMENTED,
      );
    });

    test('ControllerGetVolume reports an abnormal condition when the image is missing or the wrong size', async () => {
      const v = await create('condition', 8 * MiB);
      const get = () => call(ctl(), 'ControllerGetVolume', { volume_id: v.volume_id } as any);
      const healthy = await get();
      assert.equal(healthy.volume!.volume_id, v.volume_id);
      assert.equal(healthy.status!.volume_condition!.abnormal, false);
      await truncate(imagePath(v.volume_id), 4 * MiB);
      const shrunk = await get();
      assert.equal(shrunk.status!.volume_condition!.abnormal, true);
      assert.match(shrunk.status!.volume_condition!.message, /4194304 bytes but the record says 8388608/);
      assert.match(shrunk.status!.volume_condition!.message, /truncated/);
      const listed = (await call(ctl(), 'ListVolumes', {} as any)).entries!.find((e) => e.volume!.volume_id === v.volume_id)!;
      assert.equal(listed.status!.volume_condition!.abnormal, true, 'ListVolumes carries the same condition');
      await unlink(imagePath(v.volume_id));
      const missing = await get();
      assert.equal(missing.status!.volume_condition!.abnormal, true);
      assert.match(missing.status!.volume_condition!.message, /missing/);
      await rejectsWithCode(call(ctl(), 'ControllerGetVolume', { volume_id: volumeIdForName('nope') } as any), status.NOT_FOUND);
      await rejectsWithCode(call(ctl(), 'ControllerGetVolume', { volume_id: 'vol-../../x' } as any), status.NOT_FOUND);
      await del(v.volume_id);
    });

    test('ListVolumes pages in a stable order with opaque tokens, across creates and deletes', async () => {
      const listAll = async (max: number) => {
        const ids: string[] = [];
        let token = '';
        let pages = 0;
        do {
          const res = await call(ctl(), 'ListVolumes', { max_entries: max, starting_token: token } as any);
          ids.push(...res.entries.map((e) => e.volume!.volume_id));
          token = res.next_token;
          pages++;
          assert.ok(pages < 100);
        } while (token);
        return { ids, pages };
      };
      for (let i = 0; i < 23; i++) await create(`list-${i}`);
      const all = await listAll(0);
      assert.ok(all.ids.length >= 23);
      assert.deepEqual(all.ids, [...all.ids].sort(), 'stable order');
      const paged = await listAll(5);
      assert.deepEqual(paged.ids, all.ids);
      assert.equal(paged.pages, Math.ceil(all.ids.length / 5));

      const first = await call(ctl(), 'ListVolumes', { max_entries: 5 } as any);
      assert.doesNotMatch(first.next_token, /vol-/, 'the token is opaque');
      const onFirst = first.entries.map((e) => e.volume!.volume_id);
      const later = all.ids.filter((id) => !onFirst.includes(id));
      // Between pages: delete one already listed and one not yet listed, add a new one.
      await del(onFirst[0]!);
      await del(later[3]!);
      const added = await create('list-added');
      const rest: string[] = [];
      let token = first.next_token;
      while (token) {
        const res = await call(ctl(), 'ListVolumes', { max_entries: 5, starting_token: token } as any);
        rest.push(...res.entries.map((e) => e.volume!.volume_id));
        token = res.next_token;
      }
      const seen = [...onFirst, ...rest];
      assert.equal(new Set(seen).size, seen.length, 'no volume listed twice');
      for (const id of later) if (id !== later[3]) assert.ok(rest.includes(id), `${id} still listed`);
      assert.ok(!rest.includes(later[3]!));
      assert.equal(rest.includes(added.volume_id), added.volume_id > onFirst[onFirst.length - 1]!);

      for (const bad of ['garbage', Buffer.from('{"v":2,"after":"x"}').toString('base64url'), 'vol-aaaa']) {
        await rejectsWithCode(call(ctl(), 'ListVolumes', { max_entries: 5, starting_token: bad } as any), status.ABORTED);
      }
    });

    test('GetCapacity honours --overprovisioning and topology, and reports maximum_volume_size', async (t) => {
      const over = await startQuarry(t, {
        role: 'controller',
        dir: sock,
        args: ['--nodeid', 'node-a', '--pool', pool, '--overprovisioning', '2.0'],
      });
      const promised = async () => {
        let sum = 0;
        for (const f of await readdir(join(pool, 'volumes'))) {
          if (f.endsWith('.json') && !f.startsWith('.')) sum += JSON.parse(await readFile(join(pool, 'volumes', f), 'utf8')).sizeBytes;
        }
        return sum;
      };
      const st = await statfs(pool);
      const fsBytes = st.blocks * st.bsize;
      const floorMiB = (n: number) => Math.floor(n / MiB) * MiB;
      const one = await call(ctl(), 'GetCapacity', {} as any);
      const two = await call(over.clients.controller, 'GetCapacity', {} as any);
      const p = await promised();
      // (design: Capacity) What the filesystem can give (free − margin; these volumes hold no data yet), × ratio, − promised.
      const usable = st.bavail * st.bsize - capacityMargin(fsBytes);
      assert.ok(
        Math.abs(Number(one.available_capacity) - floorMiB(usable - p)) <= MiB,
        `${one.available_capacity} vs ${floorMiB(usable - p)}`,
      );
      assert.ok(
        Math.abs(Number(two.available_capacity) - floorMiB(2 * usable - p)) <= 2 * MiB,
        `${two.available_capacity} vs ${floorMiB(2 * usable - p)}`,
      );
      assert.ok(Number(two.maximum_volume_size!.value) > fsBytes, 'a thin pool at 2.0 can promise more than its disk');
      assert.ok(Number(one.maximum_volume_size!.value) <= Number(one.available_capacity));
      await create('cap-10', 10 * MiB);
      assert.equal(Number((await call(ctl(), 'GetCapacity', {} as any)).available_capacity), Number(one.available_capacity) - 10 * MiB);
      const here = await call(ctl(), 'GetCapacity', { accessible_topology: { segments: { [TOPOLOGY_KEY]: 'node-a' } } } as any);
      assert.ok(Number(here.available_capacity) > 0);
      const elsewhere = await call(ctl(), 'GetCapacity', { accessible_topology: { segments: { [TOPOLOGY_KEY]: 'node-b' } } } as any);
      assert.equal(Number(elsewhere.available_capacity), 0);
      await rejectsWithCode(call(ctl(), 'GetCapacity', { parameters: { pool: 'other' } } as any), status.INVALID_ARGUMENT);
    });

    test('a corrupt record: others are still listed, its operations say what to do, the process lives', async () => {
      const good = await create('corrupt-good');
      const bad = await create('corrupt-bad');
      await writeFile(recordPath(bad.volume_id), '\u0000garbage{');
      const ids: string[] = [];
      let token = '';
      do {
        const res = await call(ctl(), 'ListVolumes', { max_entries: 4, starting_token: token } as any);
        ids.push(...res.entries.map((e) => e.volume!.volume_id));
        token = res.next_token;
      } while (token);
      assert.ok(ids.includes(good.volume_id));
      assert.ok(!ids.includes(bad.volume_id));
      const what = /corrupt.*restore it from backup or remove the record and its image/;
      await rejectsWithCode(call(ctl(), 'ControllerGetVolume', { volume_id: bad.volume_id } as any), status.FAILED_PRECONDITION, what);
      await rejectsWithCode(del(bad.volume_id), status.FAILED_PRECONDITION, what);
      await rejectsWithCode(create('corrupt-bad'), status.FAILED_PRECONDITION, what);
      await rejectsWithCode(
        call(ctl(), 'ValidateVolumeCapabilities', { volume_id: bad.volume_id, volume_capabilities: RW } as any),
        status.FAILED_PRECONDITION,
        what,
      );
      await call(ctl(), 'GetCapacity', {} as any);
      await call(ctl(), 'ControllerGetVolume', { volume_id: good.volume_id } as any);
      await readFile(imagePath(bad.volume_id));
      assert.match(q.stderr() + q.stdout(), /skipping corrupt metadata record/);
      await call(q.clients.identity, 'Probe', {});
      await unlink(recordPath(bad.volume_id));
      await unlink(imagePath(bad.volume_id));
    });
  });
}
