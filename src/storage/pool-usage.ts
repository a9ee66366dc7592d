import { readdir, stat, statfs } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { sharedBytes } from '../host/filefrag.js';
import { capacityMargin, validSize, type CapacityInput } from './capacity.js';
import type { SnapshotRecord, VolumeRecord } from './records.js';
import { fileIn } from './pool-dir.js';

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
    .reduce((sum, s) => sum + snapshotReservation(s, src, (id) => src.volumes.find((v) => v.id === id)?.sizeBytes), 0);
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
  const ids = new Set([...records.keys(), ...(await imageIds(src.volumesDir))]);
  ids.delete(excludeId ?? '');
  const out: VolumeUsage[] = [];
  for (const id of ids) {
    const image = await volumeImageAllocation(src.volumesDir, id, src.reflink);
    out.push({ id, ...lineOf(src, id, records.get(id), image) });
  }
  return out;
}

/** IDs of the volume images in a volumes directory (a partial image counts through its record). */
export async function imageIds(volumesDir: string): Promise<string[]> {
  const names = await readdir(volumesDir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.img')).map((n) => n.slice(0, -'.img'.length));
}

/** A clone or restore being copied holds its data in the partial image, which becomes its image. */
export async function volumeImageAllocation(
  volumesDir: string,
  id: string,
  reflink: boolean,
  knownShared?: number,
): Promise<ImageAllocation | undefined> {
  return (
    (await imageAllocation(fileIn(volumesDir, `${id}.img`), reflink, knownShared)) ??
    (await imageAllocation(fileIn(volumesDir, `${id}.img.partial`), reflink, knownShared))
  );
}

/** One ledger line from a record (maybe missing or corrupt) and its image (maybe missing). */
export function lineOf(
  src: Pick<PoolUsageSource, 'onCorrupt'>,
  id: string,
  record: VolumeRecord | undefined,
  image: ImageAllocation | undefined,
): Omit<VolumeUsage, 'id'> {
  const recorded = validSize(record?.sizeBytes);
  if (record && recorded === undefined) src.onCorrupt?.('volume', id, `size ${JSON.stringify(record.sizeBytes)} is not a byte count`);
  // Expansion writes the record first, so the record may be ahead of the image; never behind it.
  const promisedBytes = Math.max(recorded ?? 0, image?.apparentBytes ?? 0);
  return { promisedBytes, ownedBytes: Math.min(exclusiveBytes(image), promisedBytes) };
}

/** Allocated and not shared with any other file. */
export const exclusiveBytes = (image: ImageAllocation | undefined) => Math.max(0, (image?.allocatedBytes ?? 0) - (image?.sharedBytes ?? 0));

/** A half-made snapshot holds its source's allocated bytes (a sparse copy needs them, a reflink may). */
export function snapshotReservation(
  s: SnapshotRecord,
  src: Pick<PoolUsageSource, 'onCorrupt'>,
  volumeSize: (id: string) => unknown = () => undefined,
): number {
  const held = validSize(s.allocatedBytes) ?? validSize(s.sizeBytes);
  if (held === undefined) {
    src.onCorrupt?.('snapshot', s.id, 'neither allocatedBytes nor sizeBytes is a byte count');
    return validSize(volumeSize(s.sourceVolumeId)) ?? 0;
  }
  return held;
}

export interface ImageAllocation {
  apparentBytes: number;
  /** st_blocks × 512. */
  allocatedBytes: number;
  /** Allocated bytes whose extents another file shares (0 off a reflink pool). */
  sharedBytes: number;
}

/** The same, synchronously, for an image whose shared bytes are known (a stat, no extent map). */
export function statImageSync(volumesDir: string, id: string, knownShared: number): ImageAllocation | undefined {
  for (const path of [fileIn(volumesDir, `${id}.img`), fileIn(volumesDir, `${id}.img.partial`)]) {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (!st) continue;
    const allocated = Number(st.blocks * 512n);
    return { apparentBytes: Number(st.size), allocatedBytes: allocated, sharedBytes: Math.min(knownShared, allocated) };
  }
  return undefined;
}

export async function imageAllocation(path: string, reflink: boolean, knownShared?: number): Promise<ImageAllocation | undefined> {
  let st;
  try {
    st = await stat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const allocated = Number(st.blocks * 512n);
  // Only a reflink pool shares extents; elsewhere every allocated byte is the image's own.
  const shared = reflink && allocated > 0 ? (knownShared ?? (await sharedBytes(path))) : 0;
  return { apparentBytes: Number(st.size), allocatedBytes: allocated, sharedBytes: Math.min(shared, allocated) };
}
