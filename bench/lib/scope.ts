/**
 * Cleanup for benches: a `{ after }` the test helpers (makeScratchFs, startQuarry) register
 * their cleanup with. `withScope` runs every step, last registered first, even when the bench
 * failed; SIGINT/SIGTERM run the open scopes' steps before exiting.
 */
import type { HasAfter } from '../../test/helpers/scratch.js';

const open = new Set<Array<() => unknown>>();

async function drain(steps: Array<() => unknown>): Promise<unknown[]> {
  const errors: unknown[] = [];
  while (steps.length) {
    try {
      await steps.pop()!();
    } catch (err) {
      errors.push(err);
    }
  }
  return errors;
}

export async function withScope<T>(fn: (scope: HasAfter) => Promise<T>): Promise<T> {
  const steps: Array<() => unknown> = [];
  open.add(steps);
  let result: T;
  try {
    result = await fn({ after: (step) => void steps.push(step) });
  } finally {
    const errors = await drain(steps);
    open.delete(steps);
    for (const e of errors) process.stderr.write(`bench cleanup failed: ${e instanceof Error ? e.message : String(e)}\n`);
  }
  return result;
}

/** On Ctrl-C or SIGTERM: clean up what the running bench made, then exit. */
export function cleanUpOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: cleaning up\n`);
      void Promise.all([...open].map(drain)).finally(() => process.exit(130));
    });
  }
}
