/**
 * One RPC as the wire sees it, from arrival to answer (design: Requests): the start time, the
 * handler's CallContext, the request scope the locks read, and the end: error mapping with
 * secrets scrubbed, the rpc log line and the metrics hook. Unary calls (server.ts) and
 * server-streaming calls (streaming.ts) both go through it, so their preambles cannot drift.
 *
 * Everything a call may never need is made on first use (design: Process footprint): the abort
 * signal and its 'cancelled' listener when a handler or a lock wait asks for it, the deadline
 * when read, the request fingerprint when two requests meet on one lock key, the secret values
 * when an error message is to be scrubbed, the logged IDs when a line or the hook will take them.
 */
import type * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type protobuf from 'protobufjs';
import { Code, QuarryError } from '../domain/errors.js';
import type { RequestScope } from '../services/request-scope.js';
import { toServiceError } from './errors.js';
import { requestFingerprint } from './fingerprint.js';
import { redact, scrubber, secretValues } from './redact.js';
import { logRpc, rpcIds, type RpcRecord } from './rpc-log.js';
import type { CallContext } from './types.js';

export interface RpcMethod {
  service: string;
  method: string;
  /** `Service.Method`, made once per method, not per call. */
  fullMethod: string;
  requestType: protobuf.Type;
  /** Whether the request type holds a `csi_secret` field anywhere; most do not, and skip redaction. */
  hasSecrets: boolean;
}

export interface RpcHooks {
  /** Called once per finished RPC (after the log line): the hook for metrics. Must not throw. */
  onRpc?: (rec: RpcRecord) => void;
  /** Called once per RPC as it arrives, before onRpc: the hook for the in-flight gauge. Must not throw. */
  onRpcStart?: (service: string, method: string) => void;
}

/** The grpc-js call, unary or streaming: what every kind of call has. */
type AnyServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

const noScrub = (s: string) => s;

export class RpcCall implements CallContext {
  readonly method: string;
  readonly request: unknown;
  private readonly start = process.hrtime.bigint();
  private abort: AbortController | undefined;
  private cancelledError: Error | undefined;
  private requestScope: RequestScope | undefined;
  private finished = false;

  constructor(
    readonly info: RpcMethod,
    private readonly call: AnyServerCall,
    private readonly logger: Logger,
    private readonly hooks: RpcHooks,
  ) {
    this.method = info.fullMethod;
    this.request = call.request;
    if (hooks.onRpcStart) {
      try {
        hooks.onRpcStart(info.service, info.method);
      } catch {
        // Metrics must not take the call down.
      }
    }
  }

  /** Aborts when the client cancels (or its deadline passes, which grpc-js reports as a cancel). */
  get signal(): AbortSignal {
    if (!this.abort) {
      const abort = new AbortController();
      this.abort = abort;
      if (this.call.cancelled) abort.abort(this.cancelReason());
      else this.call.once('cancelled', () => abort.abort(this.cancelReason()));
    }
    return this.abort.signal;
  }

  /** The reason of the signal once the client has gone: CANCELLED, which the rpc line logs as a warning, not a fault. */
  private cancelReason(): Error {
    this.cancelledError ??= new QuarryError(Code.CANCELLED, `${this.method} cancelled by the client`);
    return this.cancelledError;
  }

  get deadline(): Date | undefined {
    const raw = this.call.getDeadline();
    return raw instanceof Date ? raw : Number.isFinite(raw) ? new Date(raw) : undefined;
  }

  get metadata(): grpc.Metadata {
    return this.call.metadata;
  }

  /** What the request locks know of this call (design: Pool lock and concurrency). */
  get scope(): RequestScope {
    this.requestScope ??= new CallRequestScope(this);
    return this.requestScope;
  }

  /**
   * Ends the call's bookkeeping: maps `err` (undefined: success) to a gRPC error with secrets
   * scrubbed, writes the rpc line, tells the hook. Returns the error to answer with, or
   * undefined for OK; null when the call was already finished. Never throws.
   */
  finish(err: unknown, extraIds?: Record<string, string>): grpc.ServiceError | undefined | null {
    if (this.finished) return null;
    this.finished = true;
    const durationMs = Number(process.hrtime.bigint() - this.start) / 1e6;
    let serviceError: grpc.ServiceError | undefined;
    if (err !== undefined) serviceError = toServiceError(err, this.scrubber());
    const code = serviceError ? serviceError.code : status.OK;
    // The line and the hook are the only readers of the IDs: below the log level, with no hook, none are taken.
    const logs = code !== status.OK || this.logger.isLevelEnabled('info');
    if (logs || this.hooks.onRpc) {
      try {
        const ids = this.ids();
        const rec: RpcRecord = {
          service: this.info.service,
          method: this.info.method,
          code,
          durationMs,
          ids: extraIds ? { ...ids, ...extraIds } : ids,
        };
        if (serviceError) rec.error = serviceError.details;
        logRpc(this.logger, rec);
        this.hooks.onRpc?.(rec);
      } catch {
        // Logging or metrics must not take the answer down with them.
      }
    }
    return serviceError;
  }

  /** Logs a failure to deliver the answer, with secrets scrubbed. */
  failedToAnswer(what: string, err: unknown): void {
    try {
      this.logger.error({ method: this.info.method, err: this.scrubber()(String((err as Error)?.message ?? err)) }, what);
    } catch {
      // nothing left to tell
    }
  }

  /** Removes the request's secret values from a text bound for the log or the status. */
  private scrubber(): (s: string) => string {
    if (!this.info.hasSecrets) return noScrub;
    try {
      return scrubber(secretValues(this.info.requestType, this.request));
    } catch (err) {
      this.logger.error(
        { method: this.info.method, err: (err as Error)?.message },
        'cannot read the secrets of the request; scrubbing nothing',
      );
      return noScrub;
    }
  }

  /** The identifying fields of the redacted request, for the log line. */
  private ids(): Record<string, string | string[]> {
    try {
      // A type without a secret field has nothing to redact.
      return rpcIds(this.info.hasSecrets ? redact(this.info.requestType, this.request) : (this.request as Record<string, unknown>));
    } catch (err) {
      this.logger.error({ method: this.info.method, err: (err as Error)?.message }, 'cannot redact request; logging no fields');
      return {};
    }
  }
}

/** The request scope of one call: the short method name, and the fingerprint made on first read. */
class CallRequestScope implements RequestScope {
  readonly method: string;
  private digest: string | undefined;

  constructor(private readonly call: RpcCall) {
    this.method = call.info.method;
  }

  get fingerprint(): string {
    this.digest ??= requestFingerprint(this.call.info.fullMethod, this.call.request);
    return this.digest;
  }

  get signal(): AbortSignal {
    return this.call.signal;
  }
}
