import { invalidArgument } from '../domain/errors.js';
import type { SnapshotId, VolumeId } from '../domain/ids.js';
import type { ImagePool } from './image-pool.js';
import type { SnapshotRecord, VolumeRecord } from './records.js';

/** The named pools of one host. IDs do not name their pool, so lookups ask each (there are few). */
export class PoolSet {
  constructor(readonly pools: ReadonlyMap<string, ImagePool>) {}

  get isEmpty(): boolean {
    return this.pools.size === 0;
  }

  get names(): string[] {
    return [...this.pools.keys()].sort();
  }

  /** The pool a StorageClass asks for; optional when the host has exactly one. */
  select(name: string | undefined): ImagePool {
    if (name) {
      const p = this.pools.get(name);
      if (!p) throw invalidArgument(`unknown pool "${name}"; this host has: ${this.names.join(', ') || 'no pools'}`);
      return p;
    }
    if (this.pools.size === 1) return [...this.pools.values()][0]!;
    throw invalidArgument(`this host has several pools (${this.names.join(', ')}); set the StorageClass parameter "pool"`);
  }

  async findVolume(id: VolumeId): Promise<{ pool: ImagePool; record: VolumeRecord } | undefined> {
    for (const pool of this.pools.values()) {
      const record = await pool.getVolume(id);
      if (record) return { pool, record };
    }
    return undefined;
  }

  async findSnapshot(id: SnapshotId): Promise<{ pool: ImagePool; record: SnapshotRecord } | undefined> {
    for (const pool of this.pools.values()) {
      const record = await pool.snapshots.read(id);
      if (record) return { pool, record };
    }
    return undefined;
  }
}
