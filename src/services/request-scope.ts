/**
 * The request a piece of service code is running for, without threading it through every
 * handler: the wire enters a scope per RPC, and the request locks read it (design: Pool lock
 * and concurrency). Code running outside any RPC (start-up recovery, tests) has no scope.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestScope {
  /** The RPC, e.g. `NodeStageVolume`. */
  readonly method: string;
  /** Same RPC and same arguments give the same fingerprint: "the same idempotent request". */
  readonly fingerprint: string;
  /** Aborted when the caller has gone (cancelled, or past its deadline). */
  readonly signal: AbortSignal;
}

const storage = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

export function currentRequest(): RequestScope | undefined {
  return storage.getStore();
}
