// A restarted controller finishes interrupted deletions and drops creations nobody came back for.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { GiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { call } from '../helpers/grpc-client.js';
import { scratchPoolDir, startQuarry } from '../helpers/quarry-process.js';

const CAP = { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
const create = (name: string) => ({ name, capacity_range: { required_bytes: GiB }, volume_capabilities: [CAP] });

it('restart removes an abandoned creation and finishes an interrupted deletion, but leaves a recent creation for its retry', async (t) => {
  const { fs, path: pool } = await scratchPoolDir(t, { fsType: 'xfs', sizeBytes: 8 * GiB });
  const args = ['--nodeid', 'n1', '--pool', pool];
  const volumes = join(pool, 'volumes');

  const first = await startQuarry(t, { role: 'controller', dir: fs.dir, args });
  const full = (await call(first.clients.controller, 'GetCapacity', {})).available_capacity!;
  const kept = (await call(first.clients.controller, 'CreateVolume', create('kept'))).volume!;
  const doomed = (await call(first.clients.controller, 'CreateVolume', create('doomed'))).volume!;
  await first.kill();

  // An abandoned create (its claim was deleted, so no retry will come): back-dated past the cut-off below.
  const abandoning = await startQuarry(t, {
    role: 'controller',
    dir: fs.dir,
    args,
    env: { QUARRY_FAULT_POINT: 'create-volume:after-record' },
  });
  void call(abandoning.clients.controller, 'CreateVolume', create('abandoned'), { timeoutMs: 60_000 }).catch(() => undefined);
  await abandoning.waitForFaultPoint('create-volume:after-record');
  await abandoning.kill();

  // A recent create, whose retry is still to come.
  const recent = await startQuarry(t, { role: 'controller', dir: fs.dir, args, env: { QUARRY_FAULT_POINT: 'create-volume:after-record' } });
  void call(recent.clients.controller, 'CreateVolume', create('recent'), { timeoutMs: 60_000 }).catch(() => undefined);
  await recent.waitForFaultPoint('create-volume:after-record');
  await recent.kill();

  // An interrupted delete.
  const deleting = await startQuarry(t, { role: 'controller', dir: fs.dir, args, env: { QUARRY_FAULT_POINT: 'delete-volume:after-mark' } });
  void call(deleting.clients.controller, 'DeleteVolume', { volume_id: doomed.volume_id }, { timeoutMs: 60_000 }).catch(() => undefined);
  await deleting.waitForFaultPoint('delete-volume:after-mark');
  await deleting.kill();

  const abandonedRecord = join(volumes, `${volumeIdForName('abandoned')}.json`);
  const record = JSON.parse(await readFile(abandonedRecord, 'utf8'));
  await writeFile(abandonedRecord, JSON.stringify({ ...record, createdAt: new Date(Date.now() - 3_600_000).toISOString() }));

  const restarted = await startQuarry(t, { role: 'controller', dir: fs.dir, args });
  await restarted.waitForOutput(/removed volume left deleting/);
  await restarted.waitForOutput(/removed volume left creating/);
  const left = (await readdir(volumes)).filter((f) => !f.startsWith('.')).sort();
  const recentId = volumeIdForName('recent');
  assert.deepEqual(left, [`${kept.volume_id}.img`, `${kept.volume_id}.json`, `${recentId}.json`].sort());
  assert.equal(JSON.parse(await readFile(join(volumes, `${recentId}.json`), 'utf8')).state, 'creating');
  // The retry of the recent create finishes it.
  const retried = (await call(restarted.clients.controller, 'CreateVolume', create('recent'))).volume!;
  assert.equal(retried.volume_id, recentId);
  const listed = (await call(restarted.clients.controller, 'ListVolumes', {})).entries.map((e) => e.volume!.volume_id).sort();
  assert.deepEqual(listed, [kept.volume_id, recentId].sort());
  assert.equal(Number((await call(restarted.clients.controller, 'GetCapacity', {})).available_capacity), Number(full) - 2 * GiB);
});
