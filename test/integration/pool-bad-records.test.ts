/**
 * Bad records in a real pool, through a real `quarry controller` (design: Records, Recovery):
 * records that are valid JSON but of the wrong shape stay isolated to their own volume, and the
 * temporary record files a kill -9 leaves behind are swept at start, nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, scratchPoolDir, startQuarry } from '../helpers/quarry-process.js';
import { makeTempDir } from '../helpers/scratch.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

test('bad records: each fails alone with its file and field; listings, capacity and creates go on; temp files are swept', async (t) => {
  const sock = await makeTempDir(t, 'bad-records');
  const { path: pool } = await scratchPoolDir(t, { fsType: 'xfs' });
  const args = ['--nodeid', 'node-a', '--pool', pool];
  let q = await startQuarry(t, { role: 'controller', dir: sock, args });
  const create = async (name: string) =>
    (
      await call(q.clients.controller, 'CreateVolume', {
        name,
        volume_capabilities: RW,
        capacity_range: { required_bytes: 16 * MiB },
      } as any)
    ).volume!;
  const good = await create('good');
  const noLists = await create('no-lists');
  const textSize = await create('text-size');
  const negative = await create('negative-size');
  await q.kill();

  const volumes = join(pool, 'volumes');
  const recordOf = (id: string) => join(volumes, `${id}.json`);
  const damage = async (id: string, change: (r: Record<string, unknown>) => void) => {
    const r = JSON.parse(await readFile(recordOf(id), 'utf8')) as Record<string, unknown>;
    change(r);
    await writeFile(recordOf(id), JSON.stringify(r));
  };
  await damage(noLists.volume_id, (r) => {
    delete r.staging;
    delete r.publications;
    delete r.attachments;
  });
  await damage(textSize.volume_id, (r) => (r.sizeBytes = 'sixteen megabytes'));
  await damage(negative.volume_id, (r) => (r.sizeBytes = -(1024 ** 4)));
  // What a kill -9 between write and rename leaves, and files that only look similar.
  const leftover = [`.${good.volume_id}.json.0123456789ab.tmp`, `.${noLists.volume_id}.json.a1b2c3d4e5f6.tmp`];
  const foreign = ['notes.tmp', '.hidden.tmp', `.${good.volume_id}.json.XYZ.tmp`];
  for (const name of [...leftover, ...foreign]) await writeFile(join(volumes, name), '{"torn":');
  // Node registrations are written without the pool lock: only an old temp file there is abandoned.
  const nodes = join(pool, 'nodes');
  await mkdir(nodes, { recursive: true });
  const oldNodeTemp = '.node-a.json.00112233aabb.tmp';
  const freshNodeTemp = '.node-b.json.44556677ccdd.tmp';
  for (const name of [oldNodeTemp, freshNodeTemp]) await writeFile(join(nodes, name), '{');
  const longAgo = new Date(Date.now() - 60 * 60_000);
  await utimes(join(nodes, oldNodeTemp), longAgo, longAgo);

  q = await startQuarry(t, { role: 'controller', dir: sock, args });
  await q.waitForOutput(/temporary record files left by interrupted writes swept/);
  const present = await readdir(volumes);
  for (const name of leftover) assert.ok(!present.includes(name), `${name} was not swept`);
  for (const name of foreign) assert.ok(present.includes(name), `${name} is not ours but was removed`);
  assert.deepEqual(
    (await readdir(nodes)).filter((n) => n.endsWith('.tmp')),
    [freshNodeTemp],
    'old node temp swept, fresh one kept',
  );

  const listed = (await call(q.clients.controller, 'ListVolumes', {} as any)).entries.map((e) => e.volume!.volume_id);
  assert.deepEqual(listed, [good.volume_id]);
  const capacity = await call(q.clients.controller, 'GetCapacity', {} as any);
  assert.ok(Number(capacity.available_capacity) > 0);
  const fresh = await create('created-beside-bad-records');
  assert.ok(fresh.volume_id);

  const cases: Array<[string, RegExp]> = [
    [noLists.volume_id, /field "staging"/],
    [textSize.volume_id, /field "sizeBytes"/],
    [negative.volume_id, /field "sizeBytes" must not be negative/],
  ];
  for (const [id, field] of cases) {
    const e = await rejectsWithCode(
      call(q.clients.controller, 'ControllerGetVolume', { volume_id: id } as any),
      status.FAILED_PRECONDITION,
      field,
    );
    assert.ok(e.details.includes(recordOf(id)), e.details);
    await rejectsWithCode(call(q.clients.controller, 'DeleteVolume', { volume_id: id } as any), status.FAILED_PRECONDITION, field);
  }
  await call(q.clients.controller, 'DeleteVolume', { volume_id: fresh.volume_id } as any);
  assert.equal((await call(q.clients.identity, 'Probe', {})).ready?.value, true);
});
