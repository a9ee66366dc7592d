/**
 * How src/host/exec.ts reports each way a host tool can end, with real child processes: the
 * answer every caller relies on (exit codes that are answers, a missing tool naming its package,
 * a timeout, a killed tool) and the descriptor a tool receives as its fd 3 (the pool lock's
 * flock(1) acts on ours through it).
 */
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { HostCommandError, run, setHostToolObserver, type HostToolOutcome } from '../../src/host/exec.js';
import { makeTempDir } from '../helpers/scratch.js';

const isCode = (code: Code, message: RegExp) => (e: unknown) => e instanceof QuarryError && e.code === code && message.test(e.message);

/** The outcomes the observer is told of while `fn` runs. */
async function observed(fn: () => Promise<unknown>): Promise<HostToolOutcome[]> {
  const seen: HostToolOutcome[] = [];
  setHostToolObserver((_tool, outcome) => seen.push(outcome));
  try {
    await fn().catch(() => undefined);
  } finally {
    setHostToolObserver(undefined);
  }
  return seen;
}

test('a tool that exits 0 gives its output without the final newline, in the C locale', async () => {
  const r = await run('sh', ['-c', 'printf "%s\\n" "$LC_ALL"; printf "warn\\n" >&2']);
  assert.deepEqual(r, { stdout: 'C', stderr: 'warn', exitCode: 0 });
  assert.deepEqual(await observed(() => run('true', [])), ['ok']);
});

test('the input is written to the tool', async () => {
  assert.equal((await run('cat', [], { input: 'some input\n' })).stdout, 'some input');
});

test('an exit code listed as an answer is returned; any other is a HostCommandError with the output', async () => {
  assert.equal((await run('sh', ['-c', 'exit 3'], { okExitCodes: [3] })).exitCode, 3);
  await assert.rejects(
    run('sh', ['-c', 'echo broken >&2; exit 4'], { okExitCodes: [3] }),
    (e: unknown) => e instanceof HostCommandError && e.exitCode === 4 && e.output === 'broken' && e.code === Code.INTERNAL,
  );
  assert.deepEqual(await observed(() => run('false', [])), ['failed']);
});

test('a tool that is not installed is FAILED_PRECONDITION naming what to install', async () => {
  await assert.rejects(
    run('quarry-no-such-tool', ['x']),
    isCode(Code.FAILED_PRECONDITION, /^host tool quarry-no-such-tool is not installed: install the package that provides/),
  );
  assert.deepEqual(await observed(() => run('quarry-no-such-tool', [])), ['missing']);
});

test('a tool that runs past its bound is stopped and is DEADLINE_EXCEEDED', async () => {
  await assert.rejects(run('sleep', ['30'], { timeoutMs: 200 }), isCode(Code.DEADLINE_EXCEEDED, /^sleep 30 did not finish within 200 ms$/));
  // execa's own timeout reported about 1 run in 150 of these as a plain SIGTERM kill (INTERNAL):
  // the bound is ours now (exec.ts, stopAtDeadline), and every one of 20 runs must be a timeout.
  const seen: HostToolOutcome[] = [];
  for (let i = 0; i < 20; i++) seen.push(...(await observed(() => run('sleep', ['30'], { timeoutMs: 50 }))));
  assert.deepEqual(seen, Array<HostToolOutcome>(20).fill('timeout'));
});

test('past the bound, a tool that ignores SIGTERM and still answers is an answer; any other end is DEADLINE_EXCEEDED', async () => {
  // An answer is work done (a freeze that took effect must not be reported as failed); the rest ran out of time.
  assert.equal((await run('sh', ['-c', 'trap "" TERM; sleep 0.3; exit 0'], { timeoutMs: 100 })).exitCode, 0);
  await assert.rejects(
    run('sh', ['-c', 'trap "" TERM; sleep 0.3; exit 4'], { timeoutMs: 100 }),
    isCode(Code.DEADLINE_EXCEEDED, /did not finish within 100 ms$/),
  );
});

test('a tool killed by a signal is INTERNAL, not an exit code', async () => {
  await assert.rejects(run('sh', ['-c', 'kill -KILL $$']), isCode(Code.INTERNAL, /^sh failed: .*SIGKILL/));
});

test('shareFd hands our open descriptor to the tool as its fd 3', async (t) => {
  const dir = await makeTempDir(t, 'host-exec');
  const path = join(dir, 'shared');
  await writeFile(path, 'read through fd 3');
  const handle = await open(path, 'r');
  try {
    assert.equal((await run('sh', ['-c', 'cat <&3'], { shareFd: handle.fd })).stdout, 'read through fd 3');
  } finally {
    await handle.close();
  }
});
