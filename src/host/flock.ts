// Wraps flock(1): takes flock(2) on a descriptor this process already holds open.
import { deadlineExceeded } from '../domain/errors.js';
import { run } from './exec.js';

/** flock(1) exits with this when the wait runs out (set by --conflict-exit-code). */
const WAIT_RAN_OUT = 75;

/**
 * Takes an exclusive flock(2) on the open file description behind `fd`, waiting at most
 * `waitBoundMs`. flock(1) receives the descriptor as its fd 3 and locks the description we
 * share with it; when it exits the lock stays ours, and it is released when our last
 * descriptor for it is closed, also when this process is killed. The wait happens in the
 * child, so no thread of ours ever blocks on it. (design: Pool lock and concurrency)
 */
export async function flockExclusive(fd: number, waitBoundMs: number, what: string): Promise<void> {
  const seconds = (Math.max(waitBoundMs, 0) / 1000).toFixed(3);
  const r = await run('flock', ['--exclusive', '--wait', seconds, '--conflict-exit-code', String(WAIT_RAN_OUT), '3'], {
    shareFd: fd,
    okExitCodes: [WAIT_RAN_OUT],
    // The child's own bound ends first; this one only guards against a hung flock(1).
    timeoutMs: waitBoundMs + 30_000,
  });
  if (r.exitCode === WAIT_RAN_OUT) {
    throw deadlineExceeded(`${what} is held by another process for more than ${waitBoundMs} ms`);
  }
}
