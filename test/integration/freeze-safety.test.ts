// A freeze is recorded before it happens, undone at start and on a deadline, and node operations
// on a frozen volume fail fast (design: Freeze). The controller is killed -9 while it holds the
// source's filesystem frozen in the middle of a CreateSnapshot.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { thaw } from '../../src/host/fsfreeze.js';
import type { VolumeRecord } from '../../src/storage/records.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { makeScratchFs, onCleanup, type HasAfter } from '../helpers/scratch.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

/** A pod-like writer: one block written with fsync (dd). Resolves with its exit code. */
function startWriter(t: HasAfter, path: string): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn('dd', ['if=/dev/zero', `of=${path}`, 'bs=4096', 'count=1', 'conv=fsync'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  onCleanup(t, async () => {
    child.kill('SIGKILL');
    await exited;
  });
  return { child, exited };
}

/** A hang guard, not a timing assertion: a writer that never unblocks fails the test instead of hanging it. */
function unblocked(p: Promise<number | null>, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still blocked after 90 s`)), 90_000)),
  );
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

const stillRunning = (w: { child: ChildProcess }) => w.child.exitCode === null && w.child.signalCode === null;

async function setup(t: HasAfter, controllerEnv: Record<string, string>) {
  const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: GiB, reflink: false });
  const pool = join(fs.mountPath, 'pool');
  const node = await startQuarryOnPool(t, { role: 'node', dir: fs.dir, pool, label: 'node' });
  const ctl = await startQuarryOnPool(t, {
    role: 'controller',
    dir: fs.dir,
    pool,
    label: 'ctl-1',
    env: { QUARRY_FAULT_POINT: 'freeze:frozen', ...controllerEnv },
  });
  const vol = (
    await call(ctl.clients.controller, 'CreateVolume', {
      name: 'v',
      capacity_range: { required_bytes: 128 * MiB },
      volume_capabilities: [mountCapability('ext4')],
    })
  ).volume!;
  const pub = await stageAndPublish(t, node.clients, vol.volume_id!, fs.dir);
  // Whatever happens below, the test never leaves a frozen filesystem behind.
  onCleanup(t, () => thaw(pub.stagingPath).catch(() => undefined));
  const record = async () => JSON.parse(await readFile(join(pool, 'volumes', `${vol.volume_id}.json`), 'utf8')) as VolumeRecord;
  const pending = call(ctl.clients.controller, 'CreateSnapshot', { name: 'snap', source_volume_id: vol.volume_id! }, { timeoutMs: 60_000 });
  pending.catch(() => undefined);
  await ctl.waitForFaultPoint('freeze:frozen');
  return { fs, pool, node, ctl, vol, pub, record, pending };
}

test('a controller killed while a snapshot holds the source frozen: the restart thaws it, the writer finishes, the retry succeeds', async (t) => {
  const s = await setup(t, {});
  const frozen = (await s.record()).freeze;
  assert.ok(frozen, 'the freeze is in the record before anything else happens');
  assert.equal(frozen.mountPath, s.pub.stagingPath);

  const writer = startWriter(t, join(s.pub.targetPath, 'pod-write'));
  // Node operations on the frozen volume answer at once instead of hanging on it.
  await rejectsWithCode(
    call(
      s.node.clients.node,
      'NodePublishVolume',
      {
        volume_id: s.vol.volume_id,
        staging_target_path: s.pub.stagingPath,
        target_path: join(s.fs.dir, 'second-target'),
        volume_capability: mountCapability(),
        readonly: false,
      },
      { timeoutMs: 10_000 },
    ),
    grpc.status.UNAVAILABLE,
    /frozen .* for a snapshot or clone/,
  );
  assert.ok(stillRunning(writer), 'the writer is blocked by the freeze');

  await s.ctl.kill();
  await assert.rejects(s.pending);
  const ctl2 = await startQuarryOnPool(t, { role: 'controller', dir: s.fs.dir, pool: s.pool, label: 'ctl-2' });
  assert.equal(await unblocked(writer.exited, 'writer'), 0, 'the writer finished once the restarted controller thawed the filesystem');
  await ctl2.waitForOutput(/thawed a filesystem left frozen for a copy/);
  assert.equal((await s.record()).freeze, undefined, 'the freeze record is gone');

  const snap = (
    await call(ctl2.clients.controller, 'CreateSnapshot', { name: 'snap', source_volume_id: s.vol.volume_id! }, { timeoutMs: 60_000 })
  ).snapshot!;
  assert.equal(snap.ready_to_use, true);
  assert.equal((await s.record()).freeze, undefined);
});

test('a freeze past its deadline is thawed by another live process, without any restart', async (t) => {
  const s = await setup(t, { QUARRY_MAX_FREEZE_MS: '3000' });
  const writer = startWriter(t, join(s.pub.targetPath, 'pod-write'));
  // The controller stays stopped while frozen; the node process's sweep thaws at the deadline.
  assert.equal(await unblocked(writer.exited, 'writer'), 0, 'the writer finished after the deadline');
  // The sweep thaws first and clears the record right after: wait for that (bounded).
  for (const deadline = Date.now() + 30_000; (await s.record()).freeze && Date.now() < deadline; )
    await new Promise((r) => setTimeout(r, 200));
  assert.equal((await s.record()).freeze, undefined, 'the sweep removed the freeze record');
  await s.node.waitForOutput(/thawed a filesystem left frozen for a copy/);
  await s.ctl.kill();
});
