// A clone of a volume in use (CreateVolume from a volume staged and published on this node) takes
// the snapshot path's order (design: Freeze): the freeze marker is written beside the 'creating'
// record and renamed in the same hold of the pool lock, stays on the source's record through the
// copy, and is gone before the answer. Whatever the outcome (done, refused by the capacity check,
// killed while frozen and retried), nothing is left behind: no marker, no temporary record file,
// no partial image, and the source's filesystem is writable.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, type QuarryProcess } from '../helpers/quarry-process.js';
import type { HasAfter } from '../helpers/scratch.js';
import {
  assertWritable as writable,
  freezersOn,
  mountCapability,
  poolLeftovers as leftovers,
  startInUseVolume,
  startQuarryOnPool,
} from '../helpers/snapshot-harness.js';

async function setup(t: HasAfter, opts: { size: (available: number) => number; controllerEnv?: Record<string, string> }) {
  const s = await startInUseVolume(t, opts);
  const source = () => s.readRecord(s.vol.volume_id!);
  const clone = (c: QuarryProcess, name: string) =>
    call(
      c.clients.controller,
      'CreateVolume',
      {
        name,
        capacity_range: { required_bytes: Number(s.vol.capacity_bytes) },
        volume_capabilities: [mountCapability('xfs')],
        volume_content_source: { volume: { volume_id: s.vol.volume_id! } },
      },
      { timeoutMs: 60_000 },
    );
  return { ...s, source, clone };
}

test('clones of a volume in use leave no marker, temporary record or partial image, and the filesystem writable', async (t) => {
  const s = await setup(t, { size: () => 320 * MiB });
  for (let i = 0; i < 3; i++) {
    await writable(join(s.pub.targetPath, `before-${i}`));
    const made = (await s.clone(s.ctl, `clone-${i}`)).volume!;
    assert.equal((await s.source()).freeze, undefined, 'the marker is cleared before the answer');
    assert.deepEqual(await leftovers(s.pool), [], 'nothing but records and images');
    assert.deepEqual(await freezersOn(s.pub.stagingPath), [], 'no freezer outlives the answer');
    assert.equal((await s.readRecord(made.volume_id!)).state, 'ready');
    await writable(join(s.pub.targetPath, `after-${i}`));
    await call(s.ctl.clients.controller, 'DeleteVolume', { volume_id: made.volume_id! });
  }
});

test("a clone's freeze marker is renamed with its reservation, in one hold, and stays on the source through the copy", async (t) => {
  // Stopped right after the reservation's hold: the marker must already be on the source's record
  // (it is renamed in that hold, after the reservation), with no temporary file left of either write.
  const s = await setup(t, { size: () => 320 * MiB });
  // The source's own create passes the same fault point, so the stopping controller starts after it.
  await s.ctl.kill();
  const ctl = await startQuarryOnPool(t, {
    role: 'controller',
    dir: s.fs.dir,
    pool: s.pool,
    label: 'held',
    env: { QUARRY_FAULT_POINT: 'create-volume:after-record' },
  });
  const pending = s.clone(ctl, 'held');
  pending.catch(() => undefined);
  await ctl.waitForFaultPoint('create-volume:after-record');
  const volumes = (await readdir(join(s.pool, 'volumes'))).filter((n) => n.endsWith('.json'));
  const reservation = volumes.map((n) => n.slice(0, -'.json'.length)).find((id) => id !== s.vol.volume_id)!;
  assert.equal((await s.readRecord(reservation)).state, 'creating', 'the reservation is renamed into place');
  const marker = (await s.source()).freeze;
  assert.ok(marker, 'the freeze marker is set in the same hold as the reservation');
  assert.equal(marker.mountPath, s.pub.stagingPath);
  assert.equal(marker.holder, 'controller');
  assert.deepEqual(await leftovers(s.pool), [], 'both temporary records were renamed, no partial image yet');
  ctl.resume();
  const made = (await pending).volume!;
  assert.equal(made.volume_id, reservation);
  assert.equal((await s.source()).freeze, undefined, 'the marker is cleared before the answer');
  assert.equal((await s.readRecord(reservation)).state, 'ready');
  assert.deepEqual(await leftovers(s.pool), []);
  await writable(join(s.pub.targetPath, 'after'));
});

test('a clone killed while its source is frozen: the next controller thaws and clears the marker, and the retry finishes', async (t) => {
  const s = await setup(t, { size: () => 320 * MiB, controllerEnv: { QUARRY_FAULT_POINT: 'freeze:frozen' } });
  const pending = s.clone(s.ctl, 'killed');
  pending.catch(() => undefined);
  await s.ctl.waitForFaultPoint('freeze:frozen');
  const marker = (await s.source()).freeze;
  assert.ok(marker, 'the marker is on the source during the copy');
  assert.equal(marker.mountPath, s.pub.stagingPath);
  await s.ctl.kill();
  await rejectsWithCode(pending, grpc.status.UNAVAILABLE);
  const next = await startQuarryOnPool(t, { role: 'controller', dir: s.fs.dir, pool: s.pool, label: 'ctl2' });
  assert.equal((await s.source()).freeze, undefined, 'the successor cleared its predecessor’s marker at start');
  await writable(join(s.pub.targetPath, 'thawed'));
  const made = (await s.clone(next, 'killed')).volume!;
  assert.equal((await s.readRecord(made.volume_id!)).state, 'ready');
  assert.equal((await s.source()).freeze, undefined);
  assert.deepEqual(await leftovers(s.pool), [], 'the retry removed the partial image the killed copy left');
});

test('a clone of a volume in use refused by the capacity check leaves no marker, reservation or temporary record', async (t) => {
  // Overprovisioning 1.0 and a source promised all the pool can promise: a clone of the same size
  // cannot be promised, so the reservation's hold refuses it before anything is renamed.
  const s = await setup(t, { size: (available) => Math.floor(available / MiB) * MiB });
  await rejectsWithCode(s.clone(s.ctl, 'too-big'), grpc.status.RESOURCE_EXHAUSTED);
  assert.equal((await s.source()).freeze, undefined, 'no marker was set');
  assert.deepEqual(await freezersOn(s.pub.stagingPath), [], 'the freezer started in the hold has ended');
  assert.deepEqual(await leftovers(s.pool), [], 'the prepared records were removed');
  assert.deepEqual(
    (await readdir(join(s.pool, 'volumes'))).sort(),
    [`${s.vol.volume_id}.img`, `${s.vol.volume_id}.json`],
    'nothing reserved',
  );
  await writable(join(s.pub.targetPath, 'after'));
});
