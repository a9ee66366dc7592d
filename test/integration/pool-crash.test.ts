/**
 * Crash safety with real kills: a `quarry controller` stops itself at a named fault point
 * (QUARRY_FAULT_POINT), the test SIGKILLs it there, restarts it without the variable and
 * retries the same request. On pools on loop-mounted XFS and ext4.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB } from '../../src/domain/bytes.js';
import type { ControllerClient } from '../../src/wire/types.js';
import { call } from '../helpers/grpc-client.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { scratchPoolDir, startQuarry, waitUntil } from '../helpers/quarry-process.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];
const POOL_LOCK_JS = fileURLToPath(new URL('../../src/storage/pool-lock.js', import.meta.url));

for (const fsType of ['xfs', 'ext4'] as const) {
  describe(`crash safety on a ${fsType} pool`, () => {
    const suite = { after };
    onCleanup(suite, () => undefined);
    let pool: string;
    let sock: string;
    const volumesDir = () => join(pool, 'volumes');
    const files = async () => (await readdir(volumesDir()).catch(() => [] as string[])).filter((f) => !f.startsWith('.')).sort();
    const args = () => ['--nodeid', 'node-a', '--pool', pool];
    const createReq = (name: string, provisioning = 'thin') => ({
      name,
      volume_capabilities: RW,
      capacity_range: { required_bytes: 32 * MiB },
      parameters: { provisioning },
    });

    before(async () => {
      sock = await makeTempDir(suite, 'sock');
      ({ path: pool } = await scratchPoolDir(suite, { fsType }));
    });

    /** Starts a controller that stops at `point`, sends `request`, and SIGKILLs it there. */
    async function crashAt(t: { after(fn: () => unknown): void }, point: string, request: (c: ControllerClient) => Promise<unknown>) {
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: args(), env: { QUARRY_FAULT_POINT: point } });
      const pending = request(q.clients.controller).then(
        () => assert.fail(`the request finished although the process stopped at ${point}`),
        (err: { code: number }) => err,
      );
      await q.waitForFaultPoint(point);
      const exit = await q.kill();
      assert.equal(exit.signal, 'SIGKILL');
      await pending;
    }

    for (const [point, provisioning] of [
      ['create-volume:after-record', 'thin'],
      ['create-volume:after-image', 'thin'],
      ['create-volume:after-record', 'thick'],
    ] as const) {
      test(`killed at ${point} (${provisioning}): a retry makes exactly the volume asked for`, async (t) => {
        const name = `crash-${point.replace(/[^a-z]/g, '-')}-${provisioning}`;
        const before = await files();
        await crashAt(t, point, (c) => call(c, 'CreateVolume', createReq(name, provisioning) as any));
        const left = (await files()).filter((f) => !before.includes(f));
        assert.equal(left.filter((f) => f.endsWith('.json')).length, 1, `the intent was recorded first: ${left}`);

        const q = await startQuarry(t, { role: 'controller', dir: sock, args: args() });
        const listed = await call(q.clients.controller, 'ListVolumes', {} as any);
        const id = left[0]!.replace(/\..*$/, '');
        assert.ok(!listed.entries.some((e) => e.volume!.volume_id === id), 'a half-made volume is not listed');
        const v = (await call(q.clients.controller, 'CreateVolume', createReq(name, provisioning) as any, { timeoutMs: 60_000 })).volume!;
        assert.equal(v.volume_id, id);
        assert.equal(Number(v.capacity_bytes), 32 * MiB);
        const added = (await files()).filter((f) => !before.includes(f));
        assert.deepEqual(added, [`${id}.img`, `${id}.json`], 'no partial image, no orphan');
        const record = JSON.parse(await readFile(join(volumesDir(), `${id}.json`), 'utf8'));
        assert.equal(record.state, 'ready');
        const st = await stat(join(volumesDir(), `${id}.img`));
        assert.equal(st.size, 32 * MiB);
        if (provisioning === 'thick') assert.ok(st.blocks * 512 >= 32 * MiB);
        const again = (await call(q.clients.controller, 'CreateVolume', createReq(name, provisioning) as any)).volume!;
        assert.equal(again.volume_id, id);
      });
    }

    for (const point of ['delete-volume:after-mark', 'delete-volume:after-image']) {
      test(`killed at ${point}: a retry removes the volume completely`, async (t) => {
        const name = `crash-${point.replace(/[^a-z]/g, '-')}`;
        const before = await files();
        const first = await startQuarry(t, { role: 'controller', dir: sock, args: args() });
        const id = (await call(first.clients.controller, 'CreateVolume', createReq(name) as any)).volume!.volume_id;
        await first.kill();
        await crashAt(t, point, (c) => call(c, 'DeleteVolume', { volume_id: id } as any));
        const record = JSON.parse(await readFile(join(volumesDir(), `${id}.json`), 'utf8'));
        assert.equal(record.state, 'deleting', 'the intent was recorded first');

        const q = await startQuarry(t, { role: 'controller', dir: sock, args: args() });
        const listed = await call(q.clients.controller, 'ListVolumes', {} as any);
        assert.ok(!listed.entries.some((e) => e.volume!.volume_id === id), 'a volume being deleted is not listed');
        await assert.rejects(call(q.clients.controller, 'ControllerGetVolume', { volume_id: id } as any), { code: 5 });
        await call(q.clients.controller, 'DeleteVolume', { volume_id: id } as any);
        assert.deepEqual(await files(), before, 'no record, no image, no partial file');
        await call(q.clients.controller, 'DeleteVolume', { volume_id: id } as any);
      });
    }

    test('killed at delete-volume:after-mark, then the CO creates the same name again: a fresh volume', async (t) => {
      const name = 'crash-delete-then-create';
      const before = await files();
      const first = await startQuarry(t, { role: 'controller', dir: sock, args: args() });
      const id = (await call(first.clients.controller, 'CreateVolume', createReq(name) as any)).volume!.volume_id;
      await first.kill();
      await crashAt(t, 'delete-volume:after-mark', (c) => call(c, 'DeleteVolume', { volume_id: id } as any));
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: args() });
      const v = (await call(q.clients.controller, 'CreateVolume', createReq(name) as any)).volume!;
      assert.equal(v.volume_id, id);
      const record = JSON.parse(await readFile(join(volumesDir(), `${id}.json`), 'utf8'));
      assert.equal(record.state, 'ready');
      assert.deepEqual(
        (await files()).filter((f) => !before.includes(f)),
        [`${id}.img`, `${id}.json`],
      );
    });

    test('a process killed -9 while holding the pool lock does not block the next one', async (t) => {
      // Quarry's own PoolLock, held by a separate process that the test kills with SIGKILL.
      const lockFile = join(pool, '.lock');
      const script = `import(${JSON.stringify(POOL_LOCK_JS)}).then(({ PoolLock }) => new PoolLock(${JSON.stringify(lockFile)}).run(() => { process.stdout.write('locked\\n'); setInterval(() => {}, 1 << 30); return new Promise(() => {}); }));`;
      const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const holderExit = new Promise((r) => holder.once('close', r));
      onCleanup(t, async () => {
        if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
        await holderExit;
      });
      let out = '';
      holder.stdout!.on('data', (d) => (out += d));
      await waitUntil(
        async () => out.includes('locked'),
        10_000,
        () => 'the lock holder never took the lock',
      );

      const q = await startQuarry(t, { role: 'controller', dir: sock, args: args() });
      let done = false;
      const pending = call(q.clients.controller, 'CreateVolume', createReq('after-lock-holder') as any, { timeoutMs: 30_000 }).then((r) => {
        done = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(done, false, 'CreateVolume waits while another process holds the pool lock');
      assert.equal(holder.exitCode, null, 'the holder is still alive and holding the lock');
      holder.kill('SIGKILL');
      await holderExit;
      const started = Date.now();
      const v = (await pending).volume!;
      assert.ok(Date.now() - started < 5000, "the kernel released the dead holder's flock");
      assert.equal(Number(v.capacity_bytes), 32 * MiB);
    });
  });
}
