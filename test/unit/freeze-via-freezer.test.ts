import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import type { FreezerSession } from '../../src/host/freezer-session.js';
import { checkFreezeTarget, viaFreezer } from '../../src/storage/freezer-steps.js';

/** A freezer whose steps end as told, counting its calls. */
function fakeFreezer(outcome: 'ok' | Code): FreezerSession & { calls: string[] } {
  const calls: string[] = [];
  const step = (name: string) => async () => {
    calls.push(name);
    if (outcome !== 'ok') throw new QuarryError(outcome, `${name} failed`);
  };
  return {
    calls,
    freeze: step('freeze'),
    thaw: step('thaw'),
    openedMountId: async () => 70,
    close: async () => undefined,
  };
}

function fallbackCounter() {
  const c = { runs: 0, run: async () => void c.runs++ };
  return c;
}

test('a freezer that answers is used alone: fsfreeze is not run', async () => {
  const f = fakeFreezer('ok');
  const fb = fallbackCounter();
  await viaFreezer(Promise.resolve(f), 'freeze', fb.run);
  await viaFreezer(Promise.resolve(f), 'thaw', fb.run);
  assert.deepEqual(f.calls, ['freeze', 'thaw']);
  assert.equal(fb.runs, 0);
});

test('no freezer (it could not start): fsfreeze does the step', async () => {
  const fb = fallbackCounter();
  await viaFreezer(Promise.resolve(undefined), 'thaw', fb.run);
  assert.equal(fb.runs, 1);
});

for (const code of [Code.UNAVAILABLE, Code.INTERNAL]) {
  test(`a freezer that fails with ${Code[code]}: fsfreeze does the step again`, async () => {
    const f = fakeFreezer(code);
    const fb = fallbackCounter();
    await viaFreezer(Promise.resolve(f), 'freeze', fb.run);
    assert.deepEqual([f.calls, fb.runs], [['freeze'], 1]);
  });
}

test('a freezer past its bound: the kernel is stuck, so the error stands and fsfreeze is not run', async () => {
  const f = fakeFreezer(Code.DEADLINE_EXCEEDED);
  const fb = fallbackCounter();
  await assert.rejects(
    viaFreezer(Promise.resolve(f), 'thaw', fb.run),
    (e: unknown) => e instanceof QuarryError && e.code === Code.DEADLINE_EXCEEDED,
  );
  assert.equal(fb.runs, 0);
});

test("checkFreezeTarget: the freezer holds the volume's filesystem open: it may be used", async () => {
  const f = fakeFreezer('ok');
  assert.equal(await checkFreezeTarget(Promise.resolve(f), '/any', 70), true);
});

test('checkFreezeTarget: the freezer holds another filesystem open: refused, nothing frozen', async () => {
  const f = fakeFreezer('ok');
  await assert.rejects(
    checkFreezeTarget(Promise.resolve(f), '/any', 71),
    (e: unknown) => e instanceof QuarryError && e.code === Code.FAILED_PRECONDITION && /found mount 70/.test(e.message),
  );
  assert.deepEqual(f.calls, [], 'no freeze step was sent');
});

test('checkFreezeTarget: without a freezer the mount table decides; nothing mounted there is refused', async () => {
  await assert.rejects(
    checkFreezeTarget(Promise.resolve(undefined), '/nonexistent-quarry-staging', 70),
    (e: unknown) => e instanceof QuarryError && e.code === Code.FAILED_PRECONDITION && /nothing mounted/.test(e.message),
  );
});
