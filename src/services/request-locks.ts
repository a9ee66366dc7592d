/**
 * Per volume, name or path, one operation at a time, CSI-style (design: Pool lock and
 * concurrency):
 * - a request for a key that is free runs at once; different keys run in parallel;
 * - the same idempotent request (same RPC, same arguments) as the one in flight waits its turn,
 *   at most REQUEST_WAIT_BOUND_MS, below the sidecars' 60 s timeout;
 * - any other request answers ABORTED at once, naming the operation in flight;
 * - a waiter whose caller has gone leaves the queue at once, so it holds up no one.
 * Work outside any RPC (no request scope) waits its turn, bounded the same way.
 * The request's fingerprint and signal are read only when a key is already held: a free key
 * costs no digest of the request and no AbortSignal.
 */
import { aborted, Code, QuarryError } from '../domain/errors.js';
import type { RequestScope } from './request-scope.js';

export const REQUEST_WAIT_BOUND_MS = 45_000;

export type LockWaitOutcome = 'acquired' | 'aborted' | 'cancelled' | 'timeout';
/** Told of every wait for a key: the RPC, how it ended, and how long it took. */
export type LockWaitObserver = (method: string, outcome: LockWaitOutcome, seconds: number) => void;

interface Holder {
  method: string;
  /** Absent for work outside any RPC. */
  scope?: RequestScope;
}

interface Waiter extends Holder {
  grant(): void;
}

interface Slot {
  holder: Holder;
  queue: Waiter[];
}

/** `volume:vol-x` → `volume vol-x`, for messages. */
const describeKey = (key: string) => key.replace(':', ' ');

export class RequestLocks {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly waitBoundMs = REQUEST_WAIT_BOUND_MS,
    private readonly observe?: LockWaitObserver,
  ) {}

  /**
   * Runs fn holding `key` for the request `scope`; `undefined` is work outside any RPC. There is
   * deliberately no scope-less `run`: a handler must pass its `call?.scope`, or a conflicting
   * request would wait behind it instead of being ABORTED. The fourth argument names the work for a
   * reader of the call site; unused.
   */
  async runFor<T>(scope: RequestScope | undefined, key: string, fn: () => Promise<T>, _what?: string): Promise<T> {
    const me: Holder = scope ? { method: scope.method, scope } : { method: 'internal' };
    const slot = this.slots.get(key);
    if (!slot) {
      this.slots.set(key, { holder: me, queue: [] });
      this.observe?.(me.method, 'acquired', 0);
    } else {
      await this.waitTurn(key, slot, me);
    }
    try {
      return await fn();
    } finally {
      this.release(key);
    }
  }

  /** Requests holding or waiting for `key`: for tests and metrics. */
  queued(key: string): number {
    const slot = this.slots.get(key);
    return slot ? 1 + slot.queue.length : 0;
  }

  /** Number of keys held. */
  get activeKeys(): number {
    return this.slots.size;
  }

  private waitTurn(key: string, slot: Slot, me: Holder): Promise<void> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const held = slot.holder;
    if (me.scope && held.scope && me.scope.fingerprint !== held.scope.fingerprint) {
      this.observe?.(me.method, 'aborted', 0);
      throw aborted(
        `${held.method} is in progress for ${describeKey(key)}; this ${me.method} conflicts with it: retry when it has finished`,
      );
    }
    const signal = me.scope?.signal;
    if (signal?.aborted) {
      this.observe?.(me.method, 'cancelled', 0);
      throw cancelledError(me.method, key);
    }
    return new Promise<void>((resolve, reject) => {
      const leave = (outcome: LockWaitOutcome, err: Error) => {
        cleanup();
        const i = slot.queue.indexOf(waiter);
        if (i >= 0) slot.queue.splice(i, 1);
        this.observe?.(me.method, outcome, seconds());
        reject(err);
      };
      const onAbort = () => leave('cancelled', cancelledError(me.method, key));
      const timer = setTimeout(
        () =>
          leave(
            'timeout',
            aborted(`${held.method} for ${describeKey(key)} is still in progress after ${this.waitBoundMs / 1000} s; retry later`),
          ),
        this.waitBoundMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        ...me,
        grant: () => {
          cleanup();
          this.observe?.(me.method, 'acquired', seconds());
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      slot.queue.push(waiter);
    });
  }

  private release(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    const next = slot.queue.shift();
    if (!next) {
      this.slots.delete(key);
      return;
    }
    slot.holder = { method: next.method, ...(next.scope ? { scope: next.scope } : {}) };
    next.grant();
  }
}

function cancelledError(method: string, key: string): QuarryError {
  return new QuarryError(Code.CANCELLED, `${method} for ${describeKey(key)} was cancelled by its caller while waiting its turn`);
}
