/**
 * The gRPC server: unix socket handling, registration of the CSI services, per-RPC redacted
 * logging, error mapping and graceful shutdown. It knows protobuf, status codes and logging;
 * what the methods mean is the service layer's business.
 */
import { lstat, mkdir, chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { unimplemented } from '../domain/errors.js';
import { toServiceError } from './errors.js';
import { csiProto, csiServiceDefinition, CSI_PACKAGE, type CsiProto } from './proto.js';
import { holdsSecrets } from './redact.js';
import { checkRequestBounds, MAX_REQUEST_BYTES } from './request-bounds.js';
import { RpcCall, type RpcHooks, type RpcMethod } from './rpc-call.js';
import type { RpcRecord } from './rpc-log.js';
import { serverStreamingCall } from './streaming.js';
import type {
  CallContext,
  ControllerHandlers,
  GroupControllerHandlers,
  IdentityHandlers,
  NodeHandlers,
  SnapshotMetadataHandlers,
  StreamHandler,
} from './types.js';

/** The services a process offers. A service left out is not registered: gRPC answers UNIMPLEMENTED. */
export interface CsiServices {
  Identity: IdentityHandlers;
  Controller?: ControllerHandlers;
  Node?: NodeHandlers;
  GroupController?: GroupControllerHandlers;
  SnapshotMetadata?: SnapshotMetadataHandlers;
}

export interface StartCsiServerOptions {
  /** `unix:///abs/path.sock` or `unix:/abs/path.sock`. Nothing else is accepted. */
  endpoint: string;
  /** Mode of the socket file after bind. Default 0600. */
  socketMode?: number;
  logger: Logger;
  services: CsiServices;
  /** The loaded contract; defaults to the process-wide one (proto/csi.proto). */
  proto?: CsiProto;
  /** Called once per finished RPC (after the log line): the hook for metrics. Must not throw. */
  onRpc?: (rec: RpcRecord) => void;
  /** Called once per unary RPC as it arrives, before onRpc: the hook for the in-flight gauge. Must not throw. */
  onRpcStart?: (service: string, method: string) => void;
}

type Hooks = RpcHooks;

export interface CsiServer {
  readonly endpoint: string;
  /** Absolute path of the unix socket. */
  readonly socketPath: string;
  /**
   * Stops accepting calls, lets in-flight RPCs finish for up to `graceMs`, then cancels what is
   * left, and removes the socket file. Safe to call more than once (same promise).
   */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_GRACE_MS = 10_000;
const LIVENESS_TIMEOUT_MS = 1_000;

/**
 * The absolute socket path of a CSI endpoint. Accepts `unix:///abs/path` and `unix:/abs/path`;
 * throws a clear error for anything else (tcp, relative paths, `unix://host/...`).
 */
export function parseUnixEndpoint(endpoint: string): string {
  const m = /^unix:(\/.*)$/.exec(endpoint.trim());
  if (!m) {
    throw new Error(
      `unsupported CSI endpoint "${endpoint}": Quarry serves only unix sockets, ` +
        `written unix:///absolute/path.sock or unix:/absolute/path.sock`,
    );
  }
  let p = m[1]!;
  if (p.startsWith('//')) {
    // unix://<authority>/path: only an empty authority (unix:///path) is a local socket.
    if (!p.startsWith('///')) {
      throw new Error(`unsupported CSI endpoint "${endpoint}": write unix:///absolute/path.sock (three slashes)`);
    }
    p = p.slice(2);
  }
  if (p.length <= 1 || p.endsWith('/')) throw new Error(`CSI endpoint "${endpoint}" does not name a socket file`);
  return path.normalize(p);
}

/** True when a process accepts connections on the unix socket at `socketPath`. */
function answersOn(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path: socketPath });
    const timer = setTimeout(() => {
      sock.destroy();
      // A socket that neither accepts nor refuses is not safe to take over.
      resolve(true);
    }, LIVENESS_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else if (err.code === 'EAGAIN')
        resolve(true); // backlog full: alive and busy
      else reject(new Error(`cannot tell whether ${socketPath} is in use (${err.code ?? err.message}); refusing to replace it`));
    });
  });
}

/** Makes `socketPath` free to bind: creates its directory, removes a stale socket, refuses otherwise. */
async function prepareSocketPath(socketPath: string): Promise<void> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o750 });
  let st;
  try {
    st = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new Error(`${socketPath} exists and is not a unix socket; refusing to remove it (move it away or choose another --endpoint)`);
  }
  if (await answersOn(socketPath)) {
    throw new Error(`another process is already serving on ${socketPath}; refusing to start a second server on the same socket`);
  }
  try {
    await unlink(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

type AnyHandler = (req: unknown, ctx: CallContext) => Promise<unknown>;

/**
 * Wraps one service-layer handler (or none) as a grpc-js unary handler. Never throws, never
 * rejects. The handler is called at once, not on a later tick: nothing waits between arrival
 * and the handler but the bounds check.
 */
function unaryCall(info: RpcMethod, handler: AnyHandler | undefined, logger: Logger, hooks: Hooks): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const rpc = new RpcCall(info, call, logger, hooks);
    const answer = (err: unknown, response?: unknown) => {
      const serviceError = rpc.finish(err);
      if (serviceError === null) return;
      try {
        if (serviceError) callback(serviceError);
        else callback(null, response ?? {});
      } catch (cbErr) {
        rpc.failedToAnswer('failed to send the answer', cbErr);
      }
    };
    if (!handler) {
      answer(unimplemented(`${info.fullMethod} is not implemented by this plugin`));
      return;
    }
    let pending: Promise<unknown>;
    try {
      checkRequestBounds(info.requestType, rpc.request);
      pending = handler(rpc.request, rpc);
    } catch (err) {
      answer(err === undefined ? new Error('handler threw without a reason') : err);
      return;
    }
    Promise.resolve(pending).then(
      (response) => answer(undefined, response),
      (err: unknown) => answer(err === undefined ? new Error('handler rejected without a reason') : err),
    );
  };
}

/** Builds the grpc-js implementation of one service: every method of the proto, missing ones UNIMPLEMENTED. */
function implementation(
  proto: CsiProto,
  service: string,
  handlers: Record<string, unknown>,
  logger: Logger,
  hooks: Hooks,
): { definition: grpc.ServiceDefinition; impl: grpc.UntypedServiceImplementation } {
  const definition = csiServiceDefinition(proto, service);
  const reflected = proto.root.lookupService(`${CSI_PACKAGE}.${service}`);
  for (const name of Object.keys(handlers)) {
    if (handlers[name] === undefined) continue;
    if (!(name in reflected.methods)) {
      throw new Error(`${service} handlers name "${name}", which is not a method of ${CSI_PACKAGE}.${service}`);
    }
    if (typeof handlers[name] !== 'function') throw new Error(`${service}.${name} handler is not a function`);
  }
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(reflected.methods)) {
    method.resolve();
    const requestType = method.resolvedRequestType!;
    const info: RpcMethod = { service, method: name, fullMethod: `${service}.${name}`, requestType, hasSecrets: holdsSecrets(requestType) };
    if (method.responseStream && !method.requestStream) {
      impl[name] = serverStreamingCall(info, handlers[name] as StreamHandler<unknown, unknown> | undefined, logger, hooks);
      continue;
    }
    if (method.requestStream) {
      // No client-streaming RPC is offered by the wire; answer UNIMPLEMENTED rather than hang.
      impl[name] = (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>) => {
        const err = toServiceError(unimplemented(`${service}.${name} is not implemented by this plugin`));
        (call as grpc.ServerWritableStream<unknown, unknown>).emit('error', err);
      };
      continue;
    }
    impl[name] = unaryCall(info, handlers[name] as AnyHandler | undefined, logger, hooks);
  }
  return { definition, impl };
}

/** Starts serving the given CSI services on a unix socket. Rejects with a clear error if it cannot. */
export async function startCsiServer(opts: StartCsiServerOptions): Promise<CsiServer> {
  const { endpoint, logger, services } = opts;
  const socketMode = opts.socketMode ?? 0o600;
  const socketPath = parseUnixEndpoint(endpoint);
  if (!services?.Identity) throw new Error('the Identity service is required by CSI');
  const proto = opts.proto ?? csiProto();

  // grpc-js refuses a larger message (RESOURCE_EXHAUSTED) from its length prefix, before decoding it.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  const offered: string[] = [];
  for (const [service, handlers] of Object.entries(services)) {
    if (!handlers) continue;
    const { definition, impl } = implementation(proto, service, handlers as Record<string, unknown>, logger, opts);
    server.addService(definition, impl);
    offered.push(service);
  }

  await prepareSocketPath(socketPath);
  // The umask makes the socket file private from the instant it exists; chmod then sets the asked mode.
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
        if (err) reject(new Error(`cannot listen on ${socketPath}: ${err.message}`));
        else resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  try {
    await chmod(socketPath, socketMode);
  } catch (err) {
    server.forceShutdown();
    throw new Error(`cannot set mode ${socketMode.toString(8)} on ${socketPath}: ${(err as Error).message}`);
  }
  logger.info({ endpoint, socket: socketPath, mode: socketMode.toString(8), services: offered }, 'CSI gRPC server listening');

  let closing: Promise<void> | undefined;
  const close = (graceMs: number = DEFAULT_GRACE_MS): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        logger.warn({ grace_ms: graceMs }, 'in-flight RPCs did not finish within the grace period; cancelling them');
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(async () => {
      try {
        const st = await lstat(socketPath);
        if (st.isSocket()) await unlink(socketPath);
      } catch {
        // already gone
      }
      logger.info({ socket: socketPath }, 'CSI gRPC server stopped');
    });
    return closing;
  };
  return { endpoint, socketPath, close };
}

/**
 * On SIGTERM or SIGINT: close the server(s) within `graceMs`, then exit 0 (1 if closing failed).
 * A second signal exits at once. Returns a function that removes the handlers.
 */
export function installSignalHandlers(
  server: Pick<CsiServer, 'close'> | Array<Pick<CsiServer, 'close'>>,
  logger: Logger,
  graceMs: number = DEFAULT_GRACE_MS,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  const servers = Array.isArray(server) ? server : [server];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal during shutdown; exiting now');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal, grace_ms: graceMs }, 'shutting down');
    Promise.all(servers.map((s) => s.close(graceMs))).then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err: String((err as Error)?.message ?? err) }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
