/**
 * CSI-style concurrency through a real `quarry controller` (design: Pool lock and concurrency).
 * The slow operation is a clone whose image copy is held at a gate: the controller runs the real
 * cp(1), reached through a stand-in on its PATH that waits while a gate file exists. While it is
 * held: a conflicting request for the same volume is ABORTED at once, naming the operation; the
 * identical request waits and succeeds; a caller that gives up leaves the queue; other volumes go
 * on. In-flight RPCs and lock waits show in the metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, scratchPoolDir, startQuarry, waitUntil, type QuarryProcess } from '../helpers/quarry-process.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

// Image copies wait while $QUARRY_TEST_CP_GATE exists; anything else goes straight to cp.
const GATED_CP = `#!/bin/sh
case "$*" in
  *.img*) touch "$QUARRY_TEST_CP_GATE.reached"; while [ -e "$QUARRY_TEST_CP_GATE" ]; do sleep 0.05; done ;;
esac
exec /bin/cp "$@"
`;

function metricsAddress(q: QuarryProcess): string {
  const line = q
    .stdout()
    .split('\n')
    .find((l) => l.includes('metrics listening'));
  if (!line) throw new Error(`no "metrics listening" line: ${q.stdout()}`);
  return (JSON.parse(line) as { address: string }).address;
}

async function metric(q: QuarryProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress(q)}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

test('a slow clone: conflicts ABORTED at once, the same request waits, a gone caller leaves the queue', async (t) => {
  const dir = await makeTempDir(t, 'concurrency');
  const { path: pool } = await scratchPoolDir(t, { fsType: 'ext4' });
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'cp'), GATED_CP);
  await chmod(join(bin, 'cp'), 0o755);
  const gate = join(dir, 'gate');
  const q = await startQuarry(t, {
    role: 'controller',
    dir,
    args: ['--nodeid', 'node-a', '--pool', pool, '--metrics-addr', '127.0.0.1:0'],
    env: { PATH: `${bin}:${process.env.PATH}`, QUARRY_TEST_CP_GATE: gate },
  });
  await q.waitForOutput(/metrics listening/);
  const ctl = q.clients.controller;
  const source = (
    await call(ctl, 'CreateVolume', { name: 'source', volume_capabilities: RW, capacity_range: { required_bytes: 16 * MiB } } as any)
  ).volume!;

  await writeFile(gate, '');
  onCleanup(t, () => rm(gate, { force: true }));
  const cloneReq = {
    name: 'slow-clone',
    volume_capabilities: RW,
    capacity_range: { required_bytes: 16 * MiB },
    volume_content_source: { volume: { volume_id: source.volume_id } },
  } as any;
  const clone = call(ctl, 'CreateVolume', cloneReq, { timeoutMs: 50_000 });
  await waitUntil(
    () =>
      access(`${gate}.reached`).then(
        () => true,
        () => false,
      ),
    20_000,
    () => 'the clone never reached its copy',
  );
  const cloneId = volumeIdForName('slow-clone');

  // A conflicting request for the same volume: ABORTED at once, naming what is in flight.
  await rejectsWithCode(
    call(ctl, 'DeleteVolume', { volume_id: cloneId } as any, { timeoutMs: 5_000 }),
    status.ABORTED,
    new RegExp(`^CreateVolume is in progress for volume ${cloneId}; this DeleteVolume conflicts with it`),
  );
  // The same name with other arguments is another request, not a retry.
  await rejectsWithCode(
    call(ctl, 'CreateVolume', { ...cloneReq, capacity_range: { required_bytes: 32 * MiB } }, { timeoutMs: 5_000 }),
    status.ABORTED,
    /CreateVolume is in progress/,
  );
  // Other volumes go on meanwhile.
  const other = (
    await call(ctl, 'CreateVolume', { name: 'other', volume_capabilities: RW, capacity_range: { required_bytes: MiB } } as any)
  ).volume!;

  // A caller that gives up while waiting leaves the queue: only the clone is in flight again.
  await rejectsWithCode(call(ctl, 'CreateVolume', cloneReq, { timeoutMs: 1_000 }), status.DEADLINE_EXCEEDED);
  await waitUntil(
    async () => (await metric(q, /^quarry_rpc_in_flight\{service="Controller",method="CreateVolume"\} (\d+)/m)) === 1,
    10_000,
    () => 'the cancelled CreateVolume is still queued',
  );
  assert.equal(await metric(q, /^quarry_request_lock_wait_seconds_count\{method="CreateVolume",outcome="cancelled"\} (\d+)/m), 1);
  assert.equal(await metric(q, /^quarry_request_lock_wait_seconds_count\{method="DeleteVolume",outcome="aborted"\} (\d+)/m), 1);

  // The identical request waits its turn and gets the same volume.
  const retry = call(ctl, 'CreateVolume', cloneReq, { timeoutMs: 50_000 });
  await waitUntil(
    async () => (await metric(q, /^quarry_rpc_in_flight\{service="Controller",method="CreateVolume"\} (\d+)/m)) === 2,
    10_000,
    () => 'the retry never arrived',
  );
  await rm(gate);
  const [first, second] = await Promise.all([clone, retry]);
  assert.equal(first.volume!.volume_id, cloneId);
  assert.equal(second.volume!.volume_id, cloneId);
  assert.ok((await metric(q, /^quarry_request_lock_wait_seconds_count\{method="CreateVolume",outcome="acquired"\} (\d+)/m)) >= 4);

  for (const id of [cloneId, other.volume_id, source.volume_id]) await call(ctl, 'DeleteVolume', { volume_id: id } as any);
});
