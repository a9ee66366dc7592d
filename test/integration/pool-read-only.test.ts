// A pool whose filesystem is read-only answers with the cause and the fix, not INTERNAL ... EROFS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { makeScratchFs, onCleanup } from '../helpers/scratch.js';
import { mountCapability, startQuarryOnPool } from '../helpers/snapshot-harness.js';

for (const fsType of ['ext4', 'xfs'] as const) {
  test(`a read-only ${fsType} pool: CreateVolume and DeleteVolume are FAILED_PRECONDITION naming the pool and the fix`, async (t) => {
    const fs = await makeScratchFs(t, { fsType, sizeBytes: 512 * MiB });
    const pool = join(fs.mountPath, 'pool');
    const q = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool });
    const c = q.clients.controller;
    const v = (
      await call(c, 'CreateVolume', {
        name: 'before',
        capacity_range: { required_bytes: 8 * MiB },
        volume_capabilities: [mountCapability()],
      })
    ).volume!;
    const remount = (mode: 'ro' | 'rw') => execFileSync('mount', ['-o', `remount,${mode}`, fs.mountPath], { timeout: 30_000 });
    remount('ro');
    onCleanup(t, () => remount('rw'));
    const fix = new RegExp(`pool default at ${pool} is not usable: it is read-only.*remount it read-write`);
    await rejectsWithCode(
      call(c, 'CreateVolume', { name: 'after', capacity_range: { required_bytes: 8 * MiB }, volume_capabilities: [mountCapability()] }),
      status.FAILED_PRECONDITION,
      fix,
    );
    await rejectsWithCode(call(c, 'DeleteVolume', { volume_id: v.volume_id! }), status.FAILED_PRECONDITION, fix);
    // Probe says the same, and the process lives to serve again once the pool is writable.
    await rejectsWithCode(call(q.clients.identity, 'Probe', {}), status.FAILED_PRECONDITION, fix);
    remount('rw');
    await call(q.clients.identity, 'Probe', {});
    await call(c, 'DeleteVolume', { volume_id: v.volume_id! });
    assert.equal((await call(c, 'ListVolumes', {})).entries!.length, 0);
  });
}
