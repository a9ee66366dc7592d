/**
 * CSI-style request concurrency (design: Pool lock and concurrency), on the lock itself:
 * conflicts are ABORTED at once, the same request waits its turn, a caller that has gone leaves
 * the queue, different keys run in parallel, and every wait is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { RequestLocks, type LockWaitOutcome } from '../../src/services/request-locks.js';
import type { RequestScope } from '../../src/services/request-scope.js';

/** A gate that a test opens by hand: the "slow operation". */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** Runs fn for a request with this method, fingerprint and signal: the scope the wire hands a handler. */
function as<T>(
  method: string,
  fingerprint: string,
  fn: (scope: RequestScope) => Promise<T>,
  signal = new AbortController().signal,
): Promise<T> {
  return fn({ method, fingerprint, signal });
}

const tick = () => new Promise((r) => setImmediate(r));

test('a conflicting request is ABORTED at once, naming the operation in flight', async () => {
  const locks = new RequestLocks();
  const slow = gate();
  const stage = as('NodeStageVolume', 'stage-A', (s) => locks.runFor(s, 'volume:vol-a', () => slow.opened));
  await tick();
  await assert.rejects(
    as('NodeUnstageVolume', 'unstage-A', (s) =>
      locks.runFor(s, 'volume:vol-a', async () => assert.fail('ran while the stage was in flight')),
    ),
    (e: Error & { code: number }) => {
      assert.equal(e.code, status.ABORTED);
      assert.match(e.message, /^NodeStageVolume is in progress for volume vol-a; this NodeUnstageVolume conflicts with it/);
      return true;
    },
  );
  slow.open();
  await stage;
  assert.equal(locks.activeKeys, 0);
});

test('the same idempotent request waits its turn and then runs', async () => {
  const locks = new RequestLocks();
  const slow = gate();
  const order: string[] = [];
  const first = as('CreateVolume', 'same', (s) =>
    locks.runFor(s, 'volume:vol-b', async () => {
      await slow.opened;
      order.push('first');
    }),
  );
  await tick();
  const retry = as('CreateVolume', 'same', (s) => locks.runFor(s, 'volume:vol-b', async () => order.push('retry')));
  await tick();
  assert.deepEqual(order, [], 'the retry ran while the first was in flight');
  assert.equal(locks.queued('volume:vol-b'), 2);
  slow.open();
  await Promise.all([first, retry]);
  assert.deepEqual(order, ['first', 'retry']);
});

test('a caller that has gone leaves the queue: the next waiter does not wait for its turn', async () => {
  const locks = new RequestLocks();
  const slow = gate();
  const ran: string[] = [];
  const holder = as('DeleteVolume', 'del', (s) =>
    locks.runFor(s, 'volume:vol-c', async () => {
      await slow.opened;
      ran.push('holder');
    }),
  );
  await tick();
  const gone = new AbortController();
  const cancelled = as('DeleteVolume', 'del', (s) => locks.runFor(s, 'volume:vol-c', async () => ran.push('cancelled')), gone.signal);
  const patient = as('DeleteVolume', 'del', (s) => locks.runFor(s, 'volume:vol-c', async () => ran.push('patient')));
  await tick();
  assert.equal(locks.queued('volume:vol-c'), 3);
  gone.abort();
  await assert.rejects(
    cancelled,
    (e: Error & { code: number }) => e.code === status.CANCELLED && /cancelled by its caller/.test(e.message),
  );
  assert.equal(locks.queued('volume:vol-c'), 2, 'the cancelled waiter is still queued');
  slow.open();
  await Promise.all([holder, patient]);
  assert.deepEqual(ran, ['holder', 'patient']);
  // Already gone before asking: refused without queueing.
  const late = new AbortController();
  late.abort();
  const blocker = gate();
  const busy = as('DeleteVolume', 'del', (s) => locks.runFor(s, 'volume:vol-c', () => blocker.opened));
  await tick();
  await assert.rejects(
    as('DeleteVolume', 'del', (s) => locks.runFor(s, 'volume:vol-c', async () => undefined), late.signal),
    { code: status.CANCELLED },
  );
  blocker.open();
  await busy;
});

test('waiting is bounded: past the bound the same request is ABORTED, not queued forever', async () => {
  const locks = new RequestLocks(20);
  const slow = gate();
  const first = as('ControllerExpandVolume', 'x', (s) => locks.runFor(s, 'volume:vol-d', () => slow.opened));
  await tick();
  await assert.rejects(
    as('ControllerExpandVolume', 'x', (s) => locks.runFor(s, 'volume:vol-d', async () => undefined)),
    (e: Error & { code: number }) => e.code === status.ABORTED && /still in progress after 0.02 s; retry later/.test(e.message),
  );
  assert.equal(locks.queued('volume:vol-d'), 1);
  slow.open();
  await first;
});

test('different keys run in parallel; work outside any RPC waits its turn', async () => {
  const locks = new RequestLocks();
  const slow = gate();
  const a = as('NodeStageVolume', 'a', (s) => locks.runFor(s, 'volume:vol-e', () => slow.opened));
  await tick();
  assert.equal(
    await as('NodeStageVolume', 'b', (s) => locks.runFor(s, 'volume:vol-f', async () => 'other volume ran')),
    'other volume ran',
  );
  let internalRan = false;
  const internal = locks.runFor(undefined, 'volume:vol-e', async () => (internalRan = true));
  await tick();
  assert.equal(internalRan, false);
  slow.open();
  await Promise.all([a, internal]);
  assert.equal(internalRan, true);
});

test('every wait is reported with its method and outcome', async () => {
  const seen: Array<[string, LockWaitOutcome]> = [];
  const locks = new RequestLocks(10_000, (method, outcome, seconds) => {
    assert.ok(seconds >= 0);
    seen.push([method, outcome]);
  });
  const slow = gate();
  const holder = as('CreateSnapshot', 's', (s) => locks.runFor(s, 'snapshot:snap-a', () => slow.opened));
  await tick();
  await assert.rejects(
    as('DeleteSnapshot', 'd', (s) => locks.runFor(s, 'snapshot:snap-a', async () => undefined)),
    { code: status.ABORTED },
  );
  const gone = new AbortController();
  const waiter = as('CreateSnapshot', 's', (s) => locks.runFor(s, 'snapshot:snap-a', async () => undefined), gone.signal);
  const same = as('CreateSnapshot', 's', (s) => locks.runFor(s, 'snapshot:snap-a', async () => undefined));
  await tick();
  gone.abort();
  await assert.rejects(waiter);
  slow.open();
  await Promise.all([holder, same]);
  assert.deepEqual(seen, [
    ['CreateSnapshot', 'acquired'],
    ['DeleteSnapshot', 'aborted'],
    ['CreateSnapshot', 'cancelled'],
    ['CreateSnapshot', 'acquired'],
  ]);
});

test('a free key reads neither the fingerprint nor the signal of the request; a held one reads both sides', async () => {
  const locks = new RequestLocks();
  const reads: string[] = [];
  const scope = (name: string, fingerprint: string): RequestScope => ({
    method: 'NodeStageVolume',
    get fingerprint() {
      reads.push(`${name}.fingerprint`);
      return fingerprint;
    },
    get signal() {
      reads.push(`${name}.signal`);
      return new AbortController().signal;
    },
  });
  const slow = gate();
  const first = locks.runFor(scope('first', 'same'), 'volume:vol-g', () => slow.opened);
  await tick();
  assert.deepEqual(reads, [], 'an uncontended lock computed what only a collision needs');
  const second = locks.runFor(scope('second', 'same'), 'volume:vol-g', async () => 'waited');
  await tick();
  assert.deepEqual(reads.sort(), ['first.fingerprint', 'second.fingerprint', 'second.signal']);
  slow.open();
  assert.equal(await second, 'waited');
  await first;
});
