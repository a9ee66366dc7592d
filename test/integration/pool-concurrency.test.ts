/**
 * Concurrency through a real `quarry controller` over its socket, on pools on loop-mounted XFS
 * and ext4: many creates at once, one name raced many times, and a slow volume operation that
 * must not hold up other volumes. Identical requests wait their turn and are never refused with ABORTED
 * (design: Pool lock and concurrency).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { call } from '../helpers/grpc-client.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { scratchPoolDir, startQuarry, waitUntil } from '../helpers/quarry-process.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

for (const fsType of ['xfs', 'ext4'] as const) {
  describe(`concurrency on a ${fsType} pool`, () => {
    test('200 concurrent creates with distinct names all succeed', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { path: pool } = await scratchPoolDir(t, { fsType });
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'node-a', '--pool', pool] });
      const started = Date.now();
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) =>
          call(
            q.clients.controller,
            'CreateVolume',
            { name: `many-${i}`, volume_capabilities: RW, capacity_range: { required_bytes: MiB } } as any,
            { timeoutMs: 120_000 },
          ),
        ),
      );
      const wallMs = Date.now() - started;
      t.diagnostic(`200 concurrent CreateVolume on ${fsType}: ${wallMs} ms`);
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      assert.deepEqual(
        failed.map((f) => `${f.reason.code}: ${f.reason.details}`),
        [],
      );
      const ids = new Set(results.map((r) => (r as PromiseFulfilledResult<any>).value.volume.volume_id));
      assert.equal(ids.size, 200);
      const files = (await readdir(join(pool, 'volumes'))).filter((f) => !f.startsWith('.'));
      assert.equal(files.filter((f) => f.endsWith('.json')).length, 200);
      assert.equal(files.filter((f) => f.endsWith('.img')).length, 200);
      assert.equal(files.length, 400, 'no partial images');
    });

    test('50 concurrent creates of one name make exactly one volume', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      const { path: pool } = await scratchPoolDir(t, { fsType });
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'node-a', '--pool', pool] });
      const started = Date.now();
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          call(
            q.clients.controller,
            'CreateVolume',
            {
              name: 'one-name',
              volume_capabilities: RW,
              capacity_range: { required_bytes: 16 * MiB },
              parameters: { provisioning: 'thick' },
            } as any,
            { timeoutMs: 120_000 },
          ),
        ),
      );
      t.diagnostic(`50 concurrent CreateVolume of one name on ${fsType}: ${Date.now() - started} ms`);
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      assert.deepEqual(
        failed.map((f) => `${f.reason.code}: ${f.reason.details}`),
        [],
        'none refused, none ABORTED',
      );
      const ids = new Set(results.map((r) => (r as PromiseFulfilledResult<any>).value.volume.volume_id));
      assert.equal(ids.size, 1);
      const [id] = [...ids];
      assert.deepEqual((await readdir(join(pool, 'volumes'))).sort(), [`${id}.img`, `${id}.json`]);
    });

    test('a slow copy into one volume does not hold up creates of other volumes', async (t) => {
      const sock = await makeTempDir(t, 'sock');
      // No reflinks, so the clone is a real byte copy that takes a while.
      const { path: pool } = await scratchPoolDir(t, { fsType, sizeBytes: 2048 * MiB, reflink: false });
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'node-a', '--pool', pool] });
      const ctl = q.clients.controller;
      const source = (
        await call(ctl, 'CreateVolume', {
          name: 'big-source',
          volume_capabilities: RW,
          capacity_range: { required_bytes: 900 * MiB },
        } as any)
      ).volume!;
      await fillWithData(join(pool, 'volumes', `${source.volume_id}.img`), 800 * MiB);

      // Freeze the clone's copy (the `cp` that quarry runs) so that it stays in progress for as
      // long as the test needs, independent of disk speed. A copy that ends before it can be
      // caught is simply tried again under another name.
      let clone: Promise<unknown> | undefined;
      let cloneDone = false;
      let cp: number | undefined;
      let cloneName = '';
      for (let attempt = 0; attempt < 5 && cp === undefined; attempt++) {
        cloneName = `big-clone-${attempt}`;
        cloneDone = false;
        const pending = call(
          ctl,
          'CreateVolume',
          {
            name: cloneName,
            volume_capabilities: RW,
            capacity_range: { required_bytes: 900 * MiB },
            volume_content_source: { volume: { volume_id: source.volume_id } },
          } as any,
          { timeoutMs: 300_000 },
        ).finally(() => {
          cloneDone = true;
        });
        pending.catch(() => undefined); // awaited below; this only keeps an early failure from being unhandled
        clone = pending;
        const copying = async () => {
          if (cloneDone) return true;
          cp = await childNamed(q.pid, 'cp');
          return cp !== undefined;
        };
        await waitUntil(copying, 30_000, () => 'the clone never started copying', 1);
        if (cp !== undefined) {
          process.kill(cp, 'SIGSTOP');
          await waitUntil(
            async () => ['T', 'Z', ''].includes(await processState(cp!)),
            5000,
            () => 'cp did not stop',
            1,
          );
          if ((await processState(cp)) !== 'T') cp = undefined; // it had already finished
        }
        if (cp === undefined) {
          await pending;
          await call(ctl, 'DeleteVolume', { volume_id: (await pending).volume!.volume_id } as any);
        }
      }
      assert.ok(cp !== undefined, 'caught the clone while it was copying');
      let resumed = false;
      const resumeCopy = () => {
        if (!resumed) process.kill(cp!, 'SIGCONT');
        resumed = true;
      };
      // On failure, end the frozen copy (quarry's child) so nothing keeps the scratch fs busy.
      onCleanup(t, () => {
        if (!resumed) signalIfAlive(cp!, 'SIGKILL');
      });

      const started = Date.now();
      const small = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call(ctl, 'CreateVolume', { name: `small-${i}`, volume_capabilities: RW, capacity_range: { required_bytes: MiB } } as any, {
            timeoutMs: 60_000,
          }),
        ),
      );
      t.diagnostic(`${fsType}: 20 small creates took ${Date.now() - started} ms while the clone's copy was frozen`);
      assert.equal(small.length, 20);
      assert.equal(cloneDone, false, 'the clone is still in progress');
      assert.equal(await processState(cp!), 'T', 'the copy is still frozen');
      assert.ok(!(await readdir(join(pool, 'volumes'))).includes(`${volumeIdForName(cloneName)}.img`), 'the clone has no image yet');
      resumeCopy();
      const cloned = ((await clone) as { volume: { capacity_bytes: number } }).volume;
      assert.equal(Number(cloned.capacity_bytes), 900 * MiB);
    });
  });
}

/** Writes `size` bytes of incompressible data at the start of a file, so copying it costs real I/O. */
async function fillWithData(path: string, size: number): Promise<void> {
  const fd = await open(path, 'r+');
  try {
    const chunk = randomBytes(4 * MiB);
    for (let off = 0; off < size; off += chunk.length) await fd.write(chunk, 0, chunk.length, off);
    await fd.sync();
  } finally {
    await fd.close();
  }
}

function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The state letter of a process (R, S, D, T, Z), or '' when it is gone. */
async function processState(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return /\) (\S)/.exec(stat)?.[1] ?? '';
}

/** The PID of a direct child of `parent` whose command name is `comm`, from /proc. */
async function childNamed(parent: number, comm: string): Promise<number | undefined> {
  const children = await readFile(`/proc/${parent}/task/${parent}/children`, 'utf8').catch(() => '');
  for (const pid of children.split(' ').filter(Boolean)) {
    const name = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (name.trim() === comm) return Number(pid);
  }
  return undefined;
}
