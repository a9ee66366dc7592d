import type { Logger } from 'pino';
import type { NodeId } from '../domain/ids.js';
import type { PoolSet } from '../storage/pool-set.js';
import { RequestLocks, type LockWaitObserver } from './request-locks.js';

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
  /** One operation at a time per name, volume or path; conflicts are ABORTED (design: Pool lock and concurrency). */
  locks: RequestLocks;
}

/** `topology.quarry.csi.dev/node` for the default driver name. */
export function topologyKey(driverName: string): string {
  return `topology.${driverName}${TOPOLOGY_KEY_SUFFIX}`;
}

export function localTopology(ctx: ServiceContext): Record<string, string> | undefined {
  if (ctx.mode !== 'local' || !ctx.nodeId) return undefined;
  return { [topologyKey(ctx.driverName)]: ctx.nodeId };
}

export { REQUEST_WAIT_BOUND_MS } from './request-locks.js';

export function newRequestLocks(observe?: LockWaitObserver): RequestLocks {
  return new RequestLocks(undefined, observe);
}
