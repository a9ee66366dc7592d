import { parseArgs } from 'node:util';
import { isAbsolute, resolve } from 'node:path';
import { parseNodeId, type NodeId } from '../domain/ids.js';
import { parseArgsOptions, type FlagTable } from './flag-table.js';

export type Role = 'controller' | 'node' | 'all';
export const ROLES: readonly Role[] = ['controller', 'node', 'all'];

export interface PoolSpec {
  name: string;
  path: string;
}

export interface QuarryConfig {
  role: Role;
  endpoint: string;
  nodeId?: NodeId;
  pools: PoolSpec[];
  driverName: string;
  logLevel: string;
  shared: boolean;
  overprovisioning: number;
  /** Percent of a pool's filesystem under which an overcommitted pool is low on space. */
  lowSpacePercent: number;
  maxVolumesPerNode: number;
  socketMode: number;
  /** Where to serve Prometheus metrics; undefined: off. */
  metricsAddr?: ListenAddress;
  /** The kubelet root directory: every staging and target path must lie below it (design: Node staging). */
  kubeletDir: string;
  /** Local mode: label imported VolumeSnapshotContents this node holds (design: Imported snapshots in local mode). */
  labelImportedSnapshots: boolean;
}

/** A TCP listen address; no host means every interface. */
export interface ListenAddress {
  host?: string;
  port: number;
}

/** A flag problem: main prints the one-line message and exits 2. */
export class UsageError extends Error {}

export const DEFAULT_DRIVER_NAME = 'quarry.csi.dev';
export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DRIVER_NAME_RE = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

/** The flags of controller, node and all; parsing and `quarry --help` both come from here. */
export const SERVE_FLAGS = {
  endpoint: { type: 'string', arg: 'unix:///path.sock', help: 'socket to serve on (required)' },
  nodeid: { type: 'string', arg: 'NAME', help: "this node's name (required for node and all, and for a local-mode controller with pools)" },
  pool: {
    type: 'string',
    multiple: true,
    arg: '[name=]path',
    help: 'a pool directory. An empty directory becomes a pool. Without a name the pool is "default"',
  },
  drivername: { type: 'string', default: DEFAULT_DRIVER_NAME, arg: 'NAME', help: 'CSI driver name' },
  'log-level': { type: 'string', default: 'info', arg: 'LEVEL', help: 'fatal, error, warn, info, debug, trace' },
  shared: { type: 'boolean', default: false, help: 'pools are on a datastore shared by every node' },
  overprovisioning: { type: 'string', default: '1.0', arg: 'RATIO', help: 'how much thin capacity to promise per byte of disk' },
  'low-space-percent': {
    type: 'string',
    default: '10',
    arg: 'P',
    help: 'above 1.0: a pool whose free space falls under P % of its filesystem marks its thin volumes abnormal',
  },
  'max-volumes-per-node': { type: 'string', default: '0', arg: 'N', help: 'reported by NodeGetInfo; 0 means no limit' },
  'socket-mode': { type: 'string', default: '0600', arg: 'MODE', help: 'octal mode of the socket file' },
  'metrics-addr': {
    type: 'string',
    arg: '[host]:port',
    help: 'serve Prometheus metrics at http://host:port/metrics, e.g. :9810 (default: off)',
  },
  'kubelet-dir': {
    type: 'string',
    default: DEFAULT_KUBELET_DIR,
    arg: 'DIR',
    help: "kubelet's root directory; staging and target paths outside it are refused",
  },
  'label-imported-snapshots': {
    type: 'boolean',
    default: false,
    help:
      'local mode: label the snapshot and group snapshot contents that snapshot-controller leaves unlabelled (imported snapshots, ' +
      "groups) when this node's pools hold them, for this node's csi-snapshotter (needs the pod's API token)",
  },
} as const satisfies FlagTable;

/** parseArgs options, derived from SERVE_FLAGS. */
export const FLAG_OPTIONS = parseArgsOptions(SERVE_FLAGS) as {
  [K in keyof typeof SERVE_FLAGS]: Pick<(typeof SERVE_FLAGS)[K], 'type' | Extract<keyof (typeof SERVE_FLAGS)[K], 'multiple' | 'default'>>;
};

export function parseConfig(role: Role, argv: string[]): QuarryConfig {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: FLAG_OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; run "quarry --help" for the flags`);
  }
  const endpoint = values.endpoint;
  if (!endpoint) throw new UsageError('missing --endpoint: pass --endpoint unix:///path/to/csi.sock');
  if (!/^unix:\/\//.test(endpoint) && !/^unix:\//.test(endpoint)) {
    throw new UsageError(`invalid --endpoint ${endpoint}: pass a unix socket such as unix:///run/quarry/csi.sock`);
  }
  const pools = (values.pool ?? []).map(parsePoolFlag);
  const nodeIdRaw = values.nodeid;
  const nodeId = nodeIdRaw === undefined ? undefined : parseNodeId(nodeIdRaw);
  if (nodeIdRaw !== undefined && !nodeId) {
    throw new UsageError(`invalid --nodeid "${nodeIdRaw}": pass the Kubernetes node name: letters, digits, "-", "_" and "." (no "/")`);
  }
  const needsNode = role !== 'controller' || (!values.shared && pools.length > 0);
  if (needsNode && !nodeId) {
    const neededBy = role === 'controller' ? 'a local-mode controller with pools' : `quarry ${role}`;
    throw new UsageError(`missing --nodeid: pass --nodeid <this node's name> (needed by ${neededBy})`);
  }
  if (role !== 'controller' && pools.length === 0) {
    throw new UsageError(`missing --pool: quarry ${role} needs at least one --pool [name=]/path`);
  }
  return {
    role,
    endpoint,
    nodeId,
    pools,
    driverName: checkDriverName(values.drivername!),
    logLevel: checkChoice('log-level', values['log-level']!, LOG_LEVELS),
    shared: values.shared!,
    overprovisioning: positiveNumber('overprovisioning', values.overprovisioning!),
    lowSpacePercent: percent('low-space-percent', values['low-space-percent']!),
    maxVolumesPerNode: nonNegativeInt('max-volumes-per-node', values['max-volumes-per-node']!),
    socketMode: octalMode(values['socket-mode']!),
    metricsAddr: values['metrics-addr'] === undefined ? undefined : parseListenAddress('metrics-addr', values['metrics-addr']),
    kubeletDir: kubeletDirFlag(values['kubelet-dir']!),
    labelImportedSnapshots: importedSnapshotsFlag(role, values['label-imported-snapshots']!, values.shared!, pools.length),
  };
}

function importedSnapshotsFlag(role: Role, on: boolean, shared: boolean, pools: number): boolean {
  if (on && (shared || role === 'controller' || pools === 0)) {
    throw new UsageError('--label-imported-snapshots is for local mode on a node with pools (quarry all or node, without --shared)');
  }
  return on;
}

function kubeletDirFlag(v: string): string {
  if (!isAbsolute(v) || v.split('/').includes('..')) {
    throw new UsageError(`invalid --kubelet-dir "${v}": pass the kubelet root directory as an absolute path, such as /var/lib/kubelet`);
  }
  return resolve(v);
}

export function parsePoolFlag(raw: string): PoolSpec {
  const eq = raw.indexOf('=');
  const name = eq > 0 ? raw.slice(0, eq) : 'default';
  const path = eq > 0 ? raw.slice(eq + 1) : raw;
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) {
    throw new UsageError(`invalid pool name "${name}" in --pool ${raw}: pass lowercase letters, digits and "-", as --pool fast=/path`);
  }
  if (!path) throw new UsageError(`invalid --pool ${raw}: pass --pool [name=]/path/to/pool`);
  return { name, path: isAbsolute(path) ? path : resolve(path) };
}

function checkDriverName(name: string): string {
  if (!DRIVER_NAME_RE.test(name)) throw new UsageError(`invalid --drivername "${name}": pass a DNS name such as quarry.csi.dev`);
  return name;
}

function checkChoice(flag: string, v: string, choices: string[]): string {
  if (!choices.includes(v)) throw new UsageError(`invalid --${flag} "${v}": pass one of ${choices.join(', ')}`);
  return v;
}

function percent(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 100)
    throw new UsageError(`invalid --${flag} "${v}": pass a percentage from 0 to 100, such as 10`);
  return n;
}

function positiveNumber(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`invalid --${flag} "${v}": pass a number greater than 0, such as 1.5`);
  return n;
}

function nonNegativeInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid --${flag} "${v}": pass a whole number, 0 for no limit`);
  return n;
}

/** `[host]:port`, e.g. `:9810`, `127.0.0.1:9810` or `[::1]:9810`; port 0 picks a free port. */
export function parseListenAddress(flag: string, v: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`invalid --${flag} "${v}": pass [host]:port, such as :9810 or 127.0.0.1:9810`);
  const host = m[1] ?? m[2];
  return host ? { host, port } : { port };
}

function octalMode(v: string): number {
  if (!/^0?[0-7]{3}$/.test(v)) throw new UsageError(`invalid --socket-mode "${v}": pass an octal mode such as 0600`);
  return parseInt(v, 8);
}
