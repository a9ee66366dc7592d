/**
 * Pool gauges, read from the pools on every scrape: the records and the filesystem are the
 * truth, so nothing here is kept in memory between scrapes.
 */
import { statfs } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { ImagePool } from '../storage/image-pool.js';
import type { PoolSet } from '../storage/pool-set.js';

export interface PoolStats {
  capacityBytes: number;
  promisedBytes: number;
  availableBytes: number;
  usedBytes: number;
  volumes: number;
  snapshots: number;
  reflink: boolean;
  /** Free bytes above the pool's safety margin: what owed writes can still take. */
  spareBytes: number;
  /** Bytes the pool's volumes may still write into new space (design: Capacity). */
  owedBytes: number;
  shortfallBytes: number;
  /** Why thin volumes may soon fail writes; empty when they cannot. */
  spaceCondition?: string;
}

export async function readPoolStats(pool: ImagePool): Promise<PoolStats> {
  const [cap, fs, volumes, snapshots] = await Promise.all([pool.capacity(), statfs(pool.root), pool.listVolumes(), pool.listSnapshots()]);
  const spaceCondition = await pool.spaceCondition(cap);
  return {
    capacityBytes: cap.filesystemBytes,
    promisedBytes: cap.promisedBytes,
    availableBytes: cap.availableBytes,
    // As df counts it: blocks not free, reserved ones included.
    usedBytes: (fs.blocks - fs.bfree) * fs.bsize,
    volumes: volumes.filter((v) => v.state === 'ready').length,
    snapshots: snapshots.filter((s) => s.state === 'ready').length,
    reflink: pool.reflink,
    spareBytes: Math.max(0, cap.freeBytes - cap.marginBytes),
    owedBytes: cap.owedBytes,
    shortfallBytes: cap.shortfallBytes,
    spaceCondition,
  };
}

const GAUGES: ReadonlyArray<[name: string, help: string, value: (s: PoolStats) => number]> = [
  ['pool_capacity_bytes', 'Size of the filesystem that holds the pool.', (s) => s.capacityBytes],
  ['pool_promised_bytes', 'Bytes promised to the volumes and snapshots of the pool.', (s) => s.promisedBytes],
  ['pool_available_bytes', 'Bytes the pool can still promise to a new thin volume (GetCapacity).', (s) => s.availableBytes],
  ['pool_used_bytes', 'Bytes used in the filesystem that holds the pool, as df counts them.', (s) => s.usedBytes],
  ['volumes', 'Ready volumes in the pool.', (s) => s.volumes],
  ['snapshots', 'Ready snapshots in the pool.', (s) => s.snapshots],
  ['pool_spare_bytes', 'Free bytes in the pool filesystem above its safety margin.', (s) => s.spareBytes],
  ['pool_owed_bytes', 'Bytes the thin volumes of the pool may still write into new space.', (s) => s.owedBytes],
  ['pool_shortfall_bytes', 'Owed bytes the pool filesystem cannot give today; above 0, writes can fail.', (s) => s.shortfallBytes],
  [
    'pool_low_space',
    '1 when thin volumes of the pool may soon fail writes (shortfall, or under the low-space threshold), else 0.',
    (s) => (s.spaceCondition ? 1 : 0),
  ],
  ['pool_reflink', '1 when the pool makes snapshots and clones with reflinks, else 0.', (s) => (s.reflink ? 1 : 0)],
];

/**
 * Registers the pool gauges. The registry collects every metric at once, so one scrape shares
 * one read of each pool. A pool that cannot be read is logged and left out of that scrape.
 */
export function registerPoolGauges(registry: Registry, pools: PoolSet, logger: Logger, prefix = 'quarry_'): void {
  let scrape: Promise<Map<string, PoolStats>> | undefined;
  const readAll = async () => {
    const out = new Map<string, PoolStats>();
    for (const [name, pool] of pools.pools) {
      try {
        out.set(name, await readPoolStats(pool));
      } catch (err) {
        logger.error({ pool: name, err: (err as Error).message }, 'metrics: cannot read pool');
      }
    }
    return out;
  };
  const current = () => (scrape ??= readAll().finally(() => (scrape = undefined)));
  for (const [name, help, value] of GAUGES) {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['pool'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [pool, stats] of await current()) this.set({ pool }, value(stats));
      },
    });
  }
}
