// A snapshot of a volume in use writes its reservation and the freeze marker side by side, in one
// hold of the pool lock, while the capacity check runs, and its last records beside the thaw
// (design: Freeze). Whatever the outcome, nothing of that is left behind: no marker in the volume's
// record, no temporary record file, no partial image, and the filesystem is writable.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import type { HasAfter } from '../helpers/scratch.js';
import { assertWritable as writable, freezersOn, poolLeftovers as leftovers, startInUseVolume } from '../helpers/snapshot-harness.js';

async function setup(t: HasAfter, opts: { size: (available: number) => number }) {
  const s = await startInUseVolume(t, opts);
  return { ...s, record: () => s.readRecord(s.vol.volume_id!) };
}

test('snapshots of a volume in use leave no marker, temporary record or partial image, and the filesystem writable', async (t) => {
  const s = await setup(t, { size: () => 512 * MiB });
  for (let i = 0; i < 3; i++) {
    await writable(join(s.pub.targetPath, `before-${i}`));
    const snap = (
      await call(
        s.ctl.clients.controller,
        'CreateSnapshot',
        { name: `snap-${i}`, source_volume_id: s.vol.volume_id! },
        { timeoutMs: 60_000 },
      )
    ).snapshot!;
    assert.equal(snap.ready_to_use, true);
    assert.equal((await s.record()).freeze, undefined, 'the marker is cleared before the answer');
    assert.deepEqual(await leftovers(s.pool), [], 'nothing but records and images');
    assert.deepEqual(await freezersOn(s.pub.stagingPath), [], 'no freezer outlives the answer');
    const snapshotRecord = JSON.parse(await readFile(join(s.pool, 'snapshots', `${snap.snapshot_id}.json`), 'utf8')) as { state: string };
    assert.equal(snapshotRecord.state, 'ready');
    await writable(join(s.pub.targetPath, `after-${i}`));
  }
});

test('a snapshot of a volume in use refused by the capacity check leaves no marker, reservation or temporary record', async (t) => {
  // Overprovisioning 1.0 and a volume promised all the pool can promise: the data written into it is
  // more than is left, so the snapshot's reservation (its source's allocated bytes) is refused.
  const s = await setup(t, { size: (available) => Math.floor(available / MiB) * MiB });
  await new Promise<void>((resolve, reject) => {
    const dd = spawn('dd', ['if=/dev/urandom', `of=${join(s.pub.targetPath, 'data')}`, 'bs=1M', 'count=64', 'conv=fsync'], {
      stdio: 'ignore',
    });
    dd.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`))));
  });
  await rejectsWithCode(
    call(s.ctl.clients.controller, 'CreateSnapshot', { name: 'too-big', source_volume_id: s.vol.volume_id! }, { timeoutMs: 60_000 }),
    grpc.status.RESOURCE_EXHAUSTED,
  );
  assert.equal((await s.record()).freeze, undefined, 'no marker was set');
  assert.deepEqual(await freezersOn(s.pub.stagingPath), [], 'the freezer started in the hold has ended');
  assert.deepEqual(await leftovers(s.pool), [], 'the prepared records were removed');
  assert.deepEqual(await readdir(join(s.pool, 'snapshots')), [], 'nothing reserved');
  await writable(join(s.pub.targetPath, 'after'));
});
