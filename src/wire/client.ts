/**
 * Typed CSI clients over a unix socket, for tests and tools. Uses the same contract and loader
 * options as the server, so requests are written in snake_case, enums as names, int64 as numbers.
 *
 *   const c = csiClients('unix:///tmp/x/csi.sock');
 *   const res = await call(c.controller, 'CreateVolume', { name: 'pvc-1' });
 *   c.close();
 */
import * as grpc from '@grpc/grpc-js';
import { csiClientConstructor, csiProto, type CsiProto } from './proto.js';
import { parseUnixEndpoint } from './server.js';
import type { ControllerClient, GroupControllerClient, IdentityClient, NodeClient, SnapshotMetadataClient } from './types.js';

export interface CsiClients {
  identity: IdentityClient;
  controller: ControllerClient;
  node: NodeClient;
  groupController: GroupControllerClient;
  close(): void;
}

type ClientCtor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

function ctor(proto: CsiProto, service: string): ClientCtor {
  return csiClientConstructor(proto, service) as unknown as ClientCtor;
}

/** Clients for every CSI service on `endpoint` (`unix:///abs/path` or `unix:/abs/path` or an absolute path). */
export function csiClients(endpoint: string, proto: CsiProto = csiProto()): CsiClients {
  const socketPath = endpoint.startsWith('/') ? endpoint : parseUnixEndpoint(endpoint);
  const target = `unix:${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  const make = <T>(service: string) => new (ctor(proto, service))(target, creds) as unknown as T;
  const identity = make<IdentityClient>('Identity');
  const controller = make<ControllerClient>('Controller');
  const node = make<NodeClient>('Node');
  const groupController = make<GroupControllerClient>('GroupController');
  return {
    identity,
    controller,
    node,
    groupController,
    close() {
      for (const c of [identity, controller, node, groupController]) c.close();
    },
  };
}

/** A SnapshotMetadata client on `socketPath` (its methods stream; the caller closes it). */
export function snapshotMetadataClient(socketPath: string, proto: CsiProto = csiProto()): SnapshotMetadataClient {
  return new (ctor(proto, 'SnapshotMetadata'))(
    `unix:${socketPath}`,
    grpc.credentials.createInsecure(),
  ) as unknown as SnapshotMetadataClient;
}

/** Names of the unary methods of a generated client (its PascalCase ones). */
export type UnaryMethod<C> = {
  [K in keyof C & string]: K extends Capitalize<K>
    ? C[K] extends (argument: never, callback: grpc.requestCallback<unknown>) => grpc.ClientUnaryCall
      ? K
      : never
    : never;
}[keyof C & string];

type ReqOf<F> = F extends (argument: infer Req, callback: grpc.requestCallback<unknown>) => grpc.ClientUnaryCall ? Req : never;
type ResOf<F> = F extends (argument: never, callback: grpc.requestCallback<infer Res>) => grpc.ClientUnaryCall ? Res : never;

export interface CallOpts {
  /** Deadline from now; default 10 s. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
}

/** Calls a unary method and resolves with the decoded response; rejects with the grpc ServiceError. */
export function call<C extends grpc.Client, K extends UnaryMethod<C>>(
  client: C,
  method: K,
  request: ReqOf<C[K]>,
  opts: CallOpts = {},
): Promise<NonNullable<ResOf<C[K]>>> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>)[method as string];
    if (typeof fn !== 'function') {
      reject(new Error(`client has no method ${String(method)}`));
      return;
    }
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    fn.call(client, request, opts.metadata ?? new grpc.Metadata(), { deadline }, (err: grpc.ServiceError | null, res: unknown) => {
      if (err) reject(err);
      else resolve(res as NonNullable<ResOf<C[K]>>);
    });
  });
}
