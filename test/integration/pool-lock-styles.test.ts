/**
 * Quarry 0.1.0 locked a pool with an exclusive flock(2) on `<pool>/.lock` per change (fs-ext).
 * Now a change takes an exclusive OFD lock, and the process holds a shared flock for its life.
 * OFD locks and flocks do not exclude each other, so the shared flock is what keeps an old-style
 * process and a new-style one from ever holding the pool at once. Each side is a real, separate
 * process. (design: Pool lock and concurrency)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Code } from '../../src/domain/errors.js';
import { run } from '../../src/host/exec.js';
import { PoolLock } from '../../src/storage/pool-lock.js';
import { makeTempDir, onCleanup, type HasAfter } from '../helpers/scratch.js';
import { waitUntil } from '../helpers/quarry-process.js';

const POOL_LOCK_JS = fileURLToPath(new URL('../../src/storage/pool-lock.js', import.meta.url));
const HELD = 75;

/** A process that holds `path` the old way: flock(2) on its own open of the file. Held until released. */
async function oldStyleHolder(t: HasAfter, path: string): Promise<{ release(): Promise<void> }> {
  // flock(1) opens and locks the file itself, then runs cat (-o: cat does not inherit the lock),
  // which echoes our line only once the lock is taken.
  const p = spawn('flock', ['--exclusive', '--close', path, 'cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  return holderHandle(t, p, () => p.stdin!.write('held\n'), 'held');
}

/** A process that holds `lockFile` through the current PoolLock, inside run(). */
async function newStyleHolder(t: HasAfter, lockFile: string): Promise<{ release(): Promise<void> }> {
  const script = `import(${JSON.stringify(POOL_LOCK_JS)}).then(({ PoolLock }) => new PoolLock(${JSON.stringify(lockFile)}).run(() => { process.stdout.write('held\\n'); return new Promise(() => setInterval(() => {}, 1 << 30)); }));`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  return holderHandle(t, p, () => undefined, 'held');
}

async function holderHandle(t: HasAfter, p: ChildProcess, poke: () => void, marker: string) {
  const exited = once(p, 'close');
  const release = async () => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    p.stdin?.destroy();
    await exited;
  };
  onCleanup(t, release);
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  poke();
  await waitUntil(
    async () => out.includes(marker),
    15_000,
    () => `the holder never took the lock (exit ${p.exitCode})`,
  );
  return { release };
}

/** Whether an old-style taker (its own open + flock(2), non-blocking) would get the lock now. */
async function oldStyleCanTake(path: string): Promise<boolean> {
  const r = await run('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(HELD), path, 'true'], { okExitCodes: [HELD] });
  return r.exitCode === 0;
}

describe('pool lock: old-style (exclusive flock per change) and new-style (OFD lock + lifetime shared flock) processes', () => {
  test('while an old-style process holds the pool, the new PoolLock does not get it; once it is gone, it does', async (t) => {
    const dir = await makeTempDir(t, 'lock-styles');
    const lockFile = join(dir, '.lock');
    const holder = await oldStyleHolder(t, lockFile);
    let entered = false;
    await assert.rejects(
      new PoolLock(lockFile, 300).run(async () => {
        entered = true;
      }),
      (err: { code: number }) => err.code === Code.DEADLINE_EXCEEDED,
    );
    assert.equal(entered, false, 'the new style never ran its critical section beside the old holder');
    await holder.release();
    assert.equal(await new PoolLock(lockFile, 10_000).run(async () => 'in'), 'in');
  });

  test('while a new-style process holds the pool, an old-style process does not get it; its death frees it', async (t) => {
    const dir = await makeTempDir(t, 'lock-styles');
    const lockFile = join(dir, '.lock');
    assert.equal(await oldStyleCanTake(lockFile), true, 'free before');
    const holder = await newStyleHolder(t, lockFile);
    assert.equal(await oldStyleCanTake(lockFile), false, 'an old-style process is refused while the new one holds it');
    await holder.release(); // SIGKILL: the kernel drops both locks with the process
    assert.equal(await oldStyleCanTake(lockFile), true, 'free after the holder died');
  });

  test('between changes a new-style process still keeps old-style processes out, until close()', async (t) => {
    const dir = await makeTempDir(t, 'lock-styles');
    const lockFile = join(dir, '.lock');
    const lock = new PoolLock(lockFile, 10_000);
    onCleanup(t, () => lock.close());
    await lock.run(async () => undefined);
    assert.equal(await oldStyleCanTake(lockFile), false, 'an idle new-style process still holds its lifetime flock');
    await lock.close();
    assert.equal(await oldStyleCanTake(lockFile), true, 'close() drops it');
  });

  test('new-style processes exclude each other per change; run() releases, also when it throws', async (t) => {
    const dir = await makeTempDir(t, 'lock-styles');
    const lockFile = join(dir, '.lock');
    const a = new PoolLock(lockFile, 10_000);
    const b = new PoolLock(lockFile, 300); // its own descriptor: to the kernel, another holder
    onCleanup(t, () => Promise.all([a.close(), b.close()]));
    const other = await newStyleHolder(t, lockFile);
    await assert.rejects(
      b.run(async () => assert.fail('entered while another new-style process holds it')),
      (e: { code: number }) => e.code === Code.DEADLINE_EXCEEDED,
    );
    await other.release();
    await a.run(async () => {
      await assert.rejects(
        b.run(async () => assert.fail('entered inside a.run()')),
        (e: { code: number }) => e.code === Code.DEADLINE_EXCEEDED,
      );
    });
    assert.equal(await b.run(async () => 'after'), 'after', 'released after run()');
    await assert.rejects(
      a.run(async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await b.run(async () => 'after a throw'), 'after a throw', 'released after a throwing run()');
  });
});
