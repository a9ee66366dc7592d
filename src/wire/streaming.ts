/**
 * Server-streaming RPCs (design: Requests): the same bounds check, redaction, rpc log line and
 * error mapping as a unary call, around a handler that yields the messages to send. A message is
 * written only when the client's window has room (backpressure), and a cancelled call stops the
 * handler at its next message.
 */
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { unimplemented } from '../domain/errors.js';
import { checkRequestBounds } from './request-bounds.js';
import { RpcCall, type RpcHooks, type RpcMethod } from './rpc-call.js';
import type { StreamHandler } from './types.js';

type AnyStreamHandler = StreamHandler<unknown, unknown>;

/** Resolves when the stream can take more, rejects when the call is cancelled first. */
async function roomToWrite(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  await once(call, 'drain', { signal });
}

/** Wraps one service-layer stream handler (or none) as a grpc-js server-streaming handler. Never throws. */
export function serverStreamingCall(
  info: RpcMethod,
  handler: AnyStreamHandler | undefined,
  logger: Logger,
  hooks: RpcHooks,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const rpc = new RpcCall(info, call, logger, hooks);
    // A stream always watches for the client going: the send loop stops at its next message.
    const signal = rpc.signal;
    let sent = 0;
    const end = (err: unknown) => {
      // How many messages went out, next to the IDs: a stream's size is part of what it did.
      const serviceError = rpc.finish(err, { messages: String(sent) });
      if (serviceError === null) return;
      try {
        if (serviceError) call.emit('error', serviceError);
        else call.end();
      } catch (endErr) {
        rpc.failedToAnswer('failed to end the stream', endErr);
      }
    };

    if (!handler) {
      end(unimplemented(`${info.fullMethod} is not implemented by this plugin`));
      return;
    }
    const send = async () => {
      checkRequestBounds(info.requestType, rpc.request);
      for await (const message of handler(rpc.request, rpc)) {
        signal.throwIfAborted();
        if (!call.write(message)) await roomToWrite(call, signal);
        sent++;
      }
    };
    send().then(
      () => end(undefined),
      (err: unknown) => end(signal.aborted ? signal.reason : err === undefined ? new Error('handler failed without a reason') : err),
    );
  };
}
