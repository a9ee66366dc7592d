/**
 * Loads Quarry's CSI contract (proto/csi.proto) once at start, parsed ONCE: one protobufjs Root
 * is both the reflection view that carries the custom options (`csi_secret`, `alpha_*`) and the
 * source of the grpc-js service definitions (serialisers built from its types here).
 * @grpc/proto-loader is not loaded at run time: it would parse the file a second time, build a
 * descriptor.proto Root of its own and encode a descriptor of every message, about 6 MiB of a
 * process's RSS for reflection nobody serves (design: Process footprint).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { listVolumesEncoder } from './listing-encoder.js';

/**
 * The options every part of Quarry decodes CSI messages with (proto-loader's names, so the
 * generated types in src/wire/generated describe exactly what handlers see).
 */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

/** The decode options of LOADER_OPTIONS (keepCase applies when parsing, the rest when decoding). */
const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: LOADER_OPTIONS.longs,
  enums: LOADER_OPTIONS.enums,
  defaults: LOADER_OPTIONS.defaults,
  oneofs: LOADER_OPTIONS.oneofs,
};

/** Fully qualified package of the CSI contract. */
export const CSI_PACKAGE = 'csi.v1';

export interface CsiProto {
  /** Absolute path of the csi.proto that was loaded. */
  protoPath: string;
  /** protobufjs reflection of the file, resolved; carries the custom options. */
  root: protobuf.Root;
  /** grpc-js definitions of the `csi.v1` services, by service name, built from `root`. */
  services: ReadonlyMap<string, grpc.ServiceDefinition>;
}

/**
 * Finds `proto/csi.proto` by walking up from this module's directory. Works from the
 * sources (src/wire) and from the build output (dist/src/wire) alike.
 */
export function findCsiProto(startDir: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = startDir;
  for (;;) {
    const candidate = path.join(dir, 'proto', 'csi.proto');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find proto/csi.proto in ${startDir} or any parent directory; the package is incomplete`);
    }
    dir = parent;
  }
}

const require = createRequire(import.meta.url);

/** Directory that holds protobufjs's copies of google/protobuf/*.proto (descriptor.proto lives there). */
function protobufjsIncludeDir(): string {
  return path.dirname(require.resolve('protobufjs/package.json'));
}

/**
 * Loads a .proto into a fresh protobufjs Root with field names kept as written, resolving
 * `google/protobuf/...` imports from the copies that ship with protobufjs. Wrappers and
 * Timestamp come from protobufjs's bundled definitions; descriptor.proto from its file.
 */
export function loadProtobufRoot(protoPath: string): protobuf.Root {
  const root = new protobuf.Root();
  const includeDir = protobufjsIncludeDir();
  const original = root.resolvePath.bind(root);
  root.resolvePath = (origin: string, target: string): string | null => {
    if (!path.isAbsolute(target) && target.startsWith('google/protobuf/')) {
      const candidate = path.join(includeDir, target);
      if (existsSync(candidate)) return candidate;
    }
    return original(origin, target);
  };
  root.loadSync(protoPath, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Decodes a message of `type` into the plain object handlers see (LOADER_OPTIONS). */
function deserializer(type: protobuf.Type): (bytes: Buffer) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), DECODE_OPTIONS);
}

/** Encodes a plain object (as handlers and clients write it) as a message of `type`. */
function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  const listing = type.fullName === `.${CSI_PACKAGE}.ListVolumesResponse` ? listVolumesEncoder(type) : undefined;
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot serialise an array as ${type.name}`);
    if (listing) return listing(value);
    return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
  };
}

/** `NodeGetInfo` → `nodeGetInfo`: grpc-js also accepts handlers and client calls by this name. */
const lowerFirst = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);

/** The grpc-js definition of one service: path, streaming flags and (de)serialisers per method. */
function serviceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const fullName = service.fullName.replace(/^\./, '');
  for (const method of service.methodsArray) {
    method.resolve();
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    def[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: lowerFirst(method.name),
    };
  }
  return def as grpc.ServiceDefinition;
}

/** Loads the CSI contract: one parse. Throws (at start) if the file is missing or does not parse. */
export function loadCsiProto(protoPath: string = findCsiProto()): CsiProto {
  const root = loadProtobufRoot(protoPath);
  const services = new Map<string, grpc.ServiceDefinition>();
  const pkg = root.lookup(CSI_PACKAGE);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`package ${CSI_PACKAGE} is not in ${protoPath}`);
  for (const nested of pkg.nestedArray) {
    if (nested instanceof protobuf.Service) services.set(nested.name, serviceDefinition(nested));
  }
  return { protoPath, root, services };
}

/** The grpc-js service definition of `csi.v1.<name>`, or an error naming what is missing. */
export function csiServiceDefinition(proto: CsiProto, service: string): grpc.ServiceDefinition {
  const def = proto.services.get(service);
  if (!def) throw new Error(`service ${CSI_PACKAGE}.${service} is not in ${proto.protoPath}`);
  return def;
}

const clientConstructors = new WeakMap<grpc.ServiceDefinition, grpc.ServiceClientConstructor>();

/** The grpc-js client class of `csi.v1.<name>` (made once per definition). */
export function csiClientConstructor(proto: CsiProto, service: string): grpc.ServiceClientConstructor {
  const def = csiServiceDefinition(proto, service);
  let ctor = clientConstructors.get(def);
  if (!ctor) {
    ctor = grpc.makeClientConstructor(def, `${CSI_PACKAGE}.${service}`);
    clientConstructors.set(def, ctor);
  }
  return ctor;
}

/** protobufjs reflection of a CSI message, e.g. `csiType(proto.root, 'CreateVolumeRequest')`. */
export function csiType(root: protobuf.Root, name: string): protobuf.Type {
  return root.lookupType(name.includes('.') ? name : `${CSI_PACKAGE}.${name}`);
}

let cached: CsiProto | undefined;

/** The process-wide CSI contract, loaded on first use. */
export function csiProto(): CsiProto {
  cached ??= loadCsiProto();
  return cached;
}
