/**
 * The pool lock is flock(2) on `<pool>/.lock` (and on the pool directory while a pool is opened),
 * the kernel lock every Quarry release has taken. Releases up to 0.1 took it in-process through
 * fs-ext; now flock(1) takes it on our descriptor. Old and new style must exclude each other, so
 * a pool shared across an upgrade is never changed by two processes at once. Each side is a real,
 * separate process. (design: Pool lock and concurrency)
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
  await waitUntil(async () => out.includes(marker), 15_000, () => `the holder never took the lock (exit ${p.exitCode})`);
  return { release };
}

/** Whether an old-style taker (its own open + flock(2), non-blocking) would get the lock now. */
async function oldStyleCanTake(path: string): Promise<boolean> {
  const r = await run('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(HELD), path, 'true'], { okExitCodes: [HELD] });
  return r.exitCode === 0;
}

describe('pool lock: old-style (flock in-process) and new-style (flock(1) on our descriptor) processes', () => {
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
    await holder.release(); // SIGKILL: the kernel drops the lock with the process
    assert.equal(await oldStyleCanTake(lockFile), true, 'free after the holder died');
  });

  test('run() releases the lock when its critical section ends, also when it throws', async (t) => {
    const dir = await makeTempDir(t, 'lock-styles');
    const lockFile = join(dir, '.lock');
    const lock = new PoolLock(lockFile, 10_000);
    await lock.run(async () => assert.equal(await oldStyleCanTake(lockFile), false, 'held inside run()'));
    assert.equal(await oldStyleCanTake(lockFile), true, 'released after run()');
    await assert.rejects(lock.run(async () => {
      throw new Error('boom');
    }), /boom/);
    assert.equal(await oldStyleCanTake(lockFile), true, 'released after a throwing run()');
  });
});
