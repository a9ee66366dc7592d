import { deadlineExceeded } from '../domain/errors.js';

/**
 * Serialises work per key inside one process: the pool lock's in-process queue. Callers wait
 * their turn up to a bound; different keys run in parallel. Requests from the CO use
 * services/request-locks.ts instead, which answers a conflict with ABORTED
 * (design: Pool lock and concurrency).
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly waitBoundMs: number) {}

  async run<T>(key: string, fn: () => Promise<T>, what = key): Promise<T> {
    const previous = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous ? previous.then(() => mine) : mine;
    this.tails.set(key, tail);
    try {
      // Nobody ahead: no wait, so no timer (a burst queues hundreds of callers, each with its own).
      if (previous) await waitBounded(previous, this.waitBoundMs, what);
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Number of keys with work queued or running; exposed for tests and metrics. */
  get activeKeys(): number {
    return this.tails.size;
  }
}

async function waitBounded(p: Promise<void>, boundMs: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(deadlineExceeded(`another request for ${what} is still running after ${boundMs} ms; retry later`)),
      boundMs,
    );
  });
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
