import type { Logger } from 'pino';
import type { NodeId } from '../domain/ids.js';
import type { PoolSet } from '../storage/pool-set.js';
import { KeyedMutex } from '../storage/keyed-mutex.js';

export type DeployMode = 'local' | 'shared';

export const TOPOLOGY_KEY_SUFFIX = '/node';

/** What every service needs to know about this process. Built once at start. */
export interface ServiceContext {
  driverName: string;
  version: string;
  mode: DeployMode;
  /** This host's node ID; absent only for a controller with no pools. */
  nodeId?: NodeId;
  pools: PoolSet;
  logger: Logger;
  maxVolumesPerNode: number;
  /** Serialises requests for one name, volume or path (spec §4.5). */
  locks: KeyedMutex;
  /** Staging and target paths must lie below this directory, reached without symlinks (design: Node staging). */
  kubeletDir: string;
}

/** `topology.quarry.csi.dev/node` for the default driver name. */
export function topologyKey(driverName: string): string {
  return `topology.${driverName}${TOPOLOGY_KEY_SUFFIX}`;
}

export function localTopology(ctx: ServiceContext): Record<string, string> | undefined {
  if (ctx.mode !== 'local' || !ctx.nodeId) return undefined;
  return { [topologyKey(ctx.driverName)]: ctx.nodeId };
}

export const REQUEST_WAIT_BOUND_MS = 120_000;

export function newRequestLocks(): KeyedMutex {
  return new KeyedMutex(REQUEST_WAIT_BOUND_MS);
}
