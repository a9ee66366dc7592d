import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { sharedBytes } from '../host/filefrag.js';
import { capacityMargin, validSize, type CapacityInput } from './capacity.js';
import type { SnapshotRecord, VolumeRecord } from './records.js';

const BTRFS_SUPER_MAGIC = 0x9123683e;

/** One volume's line in the ledger (design: Capacity). */
export interface VolumeUsage {
  id: string;
  /** What the volume was promised: its record's size, or its image's when the record is corrupt. */
  promisedBytes: number;
  /** Allocated bytes of its image that no other file shares, at most promisedBytes. */
  ownedBytes: number;
}

export interface PoolUsageSource {
  root: string;
  volumesDir: string;
  reflink: boolean;
  overprovisioning: number;
  volumes: VolumeRecord[];
  snapshots: SnapshotRecord[];
  /** Told about a record whose size cannot be trusted; the image's own size is used instead. */
  onCorrupt?: (kind: 'volume' | 'snapshot', id: string, why: string) => void;
}

/**
 * Reads what capacity is computed from. Images are the truth for what is allocated; records for
 * what was promised. An image without a readable record still counts at its full apparent size,
 * so a corrupt or missing record can never make the pool promise more.
 */
export async function measurePool(src: PoolUsageSource, excludeId?: string): Promise<CapacityInput> {
  const fs = await statfs(src.root);
  const filesystemBytes = fs.blocks * fs.bsize;
  const volumes = await volumeUsage(src, excludeId);
  const reserved = src.snapshots
    .filter((s) => s.state === 'creating' && s.id !== excludeId)
    .reduce((sum, s) => sum + snapshotReservation(s, src), 0);
  return {
    filesystemBytes,
    freeBytes: fs.bavail * fs.bsize,
    ownedBytes: volumes.reduce((sum, v) => sum + v.ownedBytes, 0),
    promisedBytes: volumes.reduce((sum, v) => sum + v.promisedBytes, 0) + reserved,
    marginBytes: capacityMargin(filesystemBytes, fs.type === BTRFS_SUPER_MAGIC),
    overprovisioning: src.overprovisioning,
  };
}

/** Per volume: a record's promise merged with its image's allocation; images with no record included. */
export async function volumeUsage(src: PoolUsageSource, excludeId?: string): Promise<VolumeUsage[]> {
  const records = new Map(src.volumes.map((v) => [v.id, v]));
  const names = await readdir(src.volumesDir).catch(() => [] as string[]);
  const ids = new Set([...records.keys(), ...names.filter((n) => n.endsWith('.img')).map((n) => n.slice(0, -'.img'.length))]);
  ids.delete(excludeId ?? '');
  const out: VolumeUsage[] = [];
  for (const id of ids) {
    const record = records.get(id);
    const image = await imageAllocation(join(src.volumesDir, `${id}.img`), src.reflink);
    const recorded = validSize(record?.sizeBytes);
    if (record && recorded === undefined) src.onCorrupt?.('volume', id, `size ${JSON.stringify(record.sizeBytes)} is not a byte count`);
    // Expansion writes the record first, so the record may be ahead of the image; never behind it.
    const promisedBytes = Math.max(recorded ?? 0, image?.apparentBytes ?? 0);
    out.push({ id, promisedBytes, ownedBytes: Math.min(image?.exclusiveBytes ?? 0, promisedBytes) });
  }
  return out;
}

/** A half-made snapshot holds its source's allocated bytes (a sparse copy needs them, a reflink may). */
function snapshotReservation(s: SnapshotRecord, src: PoolUsageSource): number {
  const held = validSize(s.allocatedBytes) ?? validSize(s.sizeBytes);
  if (held === undefined) {
    src.onCorrupt?.('snapshot', s.id, 'neither allocatedBytes nor sizeBytes is a byte count');
    const source = src.volumes.find((v) => v.id === s.sourceVolumeId);
    return validSize(source?.sizeBytes) ?? 0;
  }
  return held;
}

interface ImageAllocation {
  apparentBytes: number;
  /** Allocated and not shared with any other file. */
  exclusiveBytes: number;
}

async function imageAllocation(path: string, reflink: boolean): Promise<ImageAllocation | undefined> {
  let st;
  try {
    st = await stat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const allocated = Number(st.blocks * 512n);
  // Only a reflink pool shares extents; elsewhere every allocated byte is the image's own.
  const shared = reflink && allocated > 0 ? await sharedBytes(path) : 0;
  return { apparentBytes: Number(st.size), exclusiveBytes: Math.max(0, allocated - shared) };
}
