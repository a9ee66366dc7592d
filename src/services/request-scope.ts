/**
 * The request a piece of service code is running for (design: Pool lock and concurrency). The
 * wire makes one per RPC and hands it to the handler with the call (`call.scope`); a handler
 * that takes a request lock passes it on: `ctx.locks.runFor(call?.scope, key, fn)`. Code running
 * outside any RPC (start-up recovery, tests) has none.
 *
 * Passed explicitly rather than through AsyncLocalStorage: on Node 20 any AsyncLocalStorage in
 * use turns on promise hooks for every promise of the process, a cost every RPC paid (design:
 * Process footprint).
 */
export interface RequestScope {
  /** The RPC, e.g. `NodeStageVolume`. */
  readonly method: string;
  /**
   * Same RPC and same arguments give the same fingerprint: "the same idempotent request". Read
   * only when two requests meet on one key, so it may be computed on first read.
   */
  readonly fingerprint: string;
  /** Aborted when the caller has gone (cancelled, or past its deadline). May be made on first read. */
  readonly signal: AbortSignal;
}
