/**
 * Server-streaming RPCs (design: Requests): the same bounds check, redaction, rpc log line and
 * error mapping as a unary call, around a handler that yields the messages to send. A message is
 * written only when the client's window has room (backpressure), and a cancelled call stops the
 * handler at its next message.
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type protobuf from 'protobufjs';
import { Code, QuarryError, unimplemented } from '../domain/errors.js';
import { runInRequestScope, type RequestScope } from '../services/request-scope.js';
import { toServiceError } from './errors.js';
import { requestFingerprint } from './fingerprint.js';
import { redact, scrubber, secretValues } from './redact.js';
import { checkRequestBounds } from './request-bounds.js';
import { logRpc, rpcIds, type RpcRecord } from './rpc-log.js';
import type { CallContext, StreamHandler } from './types.js';

export interface StreamMethodInfo {
  service: string;
  method: string;
  requestType: protobuf.Type;
}

export interface StreamHooks {
  onRpc?: (rec: RpcRecord) => void;
  onRpcStart?: (service: string, method: string) => void;
}

type AnyStreamHandler = StreamHandler<unknown, unknown>;

/** Resolves when the stream can take more, rejects when the call is cancelled first. */
async function roomToWrite(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  await once(call, 'drain', { signal });
}

/** Wraps one service-layer stream handler (or none) as a grpc-js server-streaming handler. Never throws. */
export function serverStreamingCall(
  info: StreamMethodInfo,
  handler: AnyStreamHandler | undefined,
  logger: Logger,
  hooks: StreamHooks,
): grpc.handleServerStreamingCall<unknown, unknown> {
  const fullMethod = `${info.service}.${info.method}`;
  return (call) => {
    const start = process.hrtime.bigint();
    try {
      hooks.onRpcStart?.(info.service, info.method);
    } catch {
      // Metrics must not take the call down.
    }
    const request = call.request;
    let ids: Record<string, string | string[]> = {};
    let scrub = (s: string) => s;
    try {
      ids = rpcIds(redact(info.requestType, request));
      scrub = scrubber(secretValues(info.requestType, request));
    } catch (err) {
      logger.error({ method: info.method, err: (err as Error)?.message }, 'cannot redact request; logging no fields');
    }

    const abort = new AbortController();
    call.once('cancelled', () => abort.abort(new QuarryError(Code.CANCELLED, `${fullMethod} cancelled by the client`)));
    const rawDeadline = call.getDeadline();
    const deadline = rawDeadline instanceof Date ? rawDeadline : Number.isFinite(rawDeadline) ? new Date(rawDeadline) : undefined;
    const ctx: CallContext = { method: fullMethod, signal: abort.signal, deadline, metadata: call.metadata };
    let fingerprint: string | undefined;
    const scope: RequestScope = {
      method: info.method,
      get fingerprint() {
        fingerprint ??= requestFingerprint(fullMethod, request);
        return fingerprint;
      },
      signal: abort.signal,
    };

    let sent = 0;
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      const rec: RpcRecord = { service: info.service, method: info.method, code: grpc.status.OK, durationMs: 0, ids };
      let serviceError: grpc.ServiceError | undefined;
      if (err !== undefined) {
        serviceError = toServiceError(err, scrub);
        rec.code = serviceError.code;
        rec.error = serviceError.details;
      }
      rec.durationMs = Number(process.hrtime.bigint() - start) / 1e6;
      try {
        // How many messages went out, next to the IDs: a stream's size is part of what it did.
        rec.ids = { ...ids, messages: String(sent) };
        logRpc(logger, rec);
        hooks.onRpc?.(rec);
      } catch {
        // Logging or metrics must not take the answer down with them.
      }
      try {
        if (serviceError) call.emit('error', serviceError);
        else call.end();
      } catch (endErr) {
        logger.error({ method: info.method, err: scrub(String((endErr as Error)?.message ?? endErr)) }, 'failed to end the stream');
      }
    };

    if (!handler) {
      finish(unimplemented(`${fullMethod} is not implemented by this plugin`));
      return;
    }
    const send = async () => {
      checkRequestBounds(info.requestType, request);
      await runInRequestScope(scope, async () => {
        for await (const message of handler(request, ctx)) {
          abort.signal.throwIfAborted();
          if (!call.write(message)) await roomToWrite(call, abort.signal);
          sent++;
        }
      });
    };
    send().then(
      () => finish(undefined),
      (err: unknown) =>
        finish(abort.signal.aborted ? abort.signal.reason : err === undefined ? new Error('handler failed without a reason') : err),
    );
  };
}
