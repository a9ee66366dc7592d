import type { Bytes } from '../domain/bytes.js';
import { bytes, MiB } from '../domain/bytes.js';

/**
 * What a pool's capacity is computed from (design: Capacity). Every field is a plain sum, so a
 * ledger kept in memory and rebuilt from records and images can produce the same input.
 */
export interface CapacityInput {
  /** Size of the filesystem that holds the pool (f_blocks): bounds the largest volume. */
  filesystemBytes: number;
  /** Bytes an unprivileged writer can still allocate there right now (f_bavail). */
  freeBytes: number;
  /**
   * Bytes our volume images hold that a write can reuse in place: allocated, not shared with
   * another file (a snapshot or clone), and at most the volume's size.
   */
  ownedBytes: number;
  /** Sum of every volume's size, plus what half-made snapshots reserve: what has been promised. */
  promisedBytes: number;
  /** Kept back for the pool filesystem's own growth: extent maps, btrees, journal, records. */
  marginBytes: number;
  /** Admin's overcommit ratio for thin volumes (1.0 = writes can never run out of space). */
  overprovisioning: number;
}

export interface Capacity {
  /** What a new thin volume can still be promised. */
  availableBytes: Bytes;
  /** The largest volume this pool could ever hold. */
  maximumVolumeBytes: Bytes;
  /** Bytes the pool's volumes may still write into new space: promised minus owned. */
  owedBytes: Bytes;
  /** Space the pool can really give its volumes: free minus the margin, plus what they own. */
  usableBytes: Bytes;
  /** Owed bytes the filesystem cannot give today (only above 1.0, or when foreign files ate space). */
  shortfallBytes: Bytes;
}

/** Rounded down to whole MiB, since volume sizes are MiB multiples. */
const floorMiB = (n: number) => bytes(Math.max(0, Math.floor(n / MiB) * MiB));

/** The margin: 2 % of the filesystem, at least 32 MiB; btrfs (always copy-on-write, big metadata) keeps 10 %. */
export function capacityMargin(filesystemBytes: number, btrfs = false): number {
  return Math.max(32 * MiB, Math.ceil(filesystemBytes * (btrfs ? 0.1 : 0.02)));
}

/**
 * A promise is kept only if the filesystem can give every promised byte that is not already
 * ours: usable = free − margin + owned, and available = usable × ratio − promised. At 1.0 this is
 * exactly "every byte a volume may still write has free space waiting for it".
 */
export function computeCapacity(c: CapacityInput): Capacity {
  const spare = Math.max(0, c.freeBytes - c.marginBytes);
  const usable = spare + c.ownedBytes;
  const owed = Math.max(0, c.promisedBytes - c.ownedBytes);
  return {
    availableBytes: floorMiB(usable * c.overprovisioning - c.promisedBytes),
    maximumVolumeBytes: floorMiB(c.filesystemBytes * c.overprovisioning),
    owedBytes: bytes(owed),
    usableBytes: bytes(usable),
    shortfallBytes: bytes(Math.max(0, owed - spare)),
  };
}

/** A thick volume (and a sparse copy) needs the promise and real free space now, above the margin. */
export function canPromise(size: Bytes, thick: boolean, c: CapacityInput): boolean {
  const { availableBytes } = computeCapacity(c);
  if (size > availableBytes) return false;
  return !thick || size <= c.freeBytes - c.marginBytes;
}

/** A size from a record, or undefined when it is not a whole non-negative number (a corrupt record). */
export function validSize(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
