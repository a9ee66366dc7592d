/**
 * Loads Quarry's CSI contract (proto/csi.proto) once at start.
 *
 * Two views of the same file:
 * - the @grpc/proto-loader package definition, which grpc-js uses to (de)serialise calls;
 * - a protobufjs Root, the reflection view that carries the custom options
 *   (`csi_secret`, `alpha_*`) which proto-loader does not expose.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/** The options every part of Quarry decodes CSI messages with. Handlers see exactly this shape. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Fully qualified package of the CSI contract. */
export const CSI_PACKAGE = 'csi.v1';

export interface CsiProto {
  /** Absolute path of the csi.proto that was loaded. */
  protoPath: string;
  /** proto-loader's definition, as grpc-js consumes it. */
  packageDefinition: protoLoader.PackageDefinition;
  /** `grpc.loadPackageDefinition(packageDefinition)`: holds client constructors and service definitions. */
  grpcObject: grpc.GrpcObject;
  /** protobufjs reflection of the same file, resolved; carries the custom options. */
  root: protobuf.Root;
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

/** Loads the CSI contract both ways. Throws (at start) if the file is missing or does not parse. */
export function loadCsiProto(protoPath: string = findCsiProto()): CsiProto {
  const packageDefinition = protoLoader.loadSync(protoPath, LOADER_OPTIONS);
  const grpcObject = grpc.loadPackageDefinition(packageDefinition);
  const root = loadProtobufRoot(protoPath);
  return { protoPath, packageDefinition, grpcObject, root };
}

/** The grpc-js service definition of `csi.v1.<name>`, or an error naming what is missing. */
export function csiServiceDefinition(proto: CsiProto, service: string): grpc.ServiceDefinition {
  const def = proto.packageDefinition[`${CSI_PACKAGE}.${service}`];
  if (!def || typeof def !== 'object' || 'format' in def) {
    throw new Error(`service ${CSI_PACKAGE}.${service} is not in ${proto.protoPath}`);
  }
  return def as unknown as grpc.ServiceDefinition;
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
