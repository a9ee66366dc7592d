import type { Bytes } from '../domain/bytes.js';
import { bytes, MiB } from '../domain/bytes.js';

export interface CapacityInput {
  /** Size of the filesystem that holds the pool. */
  filesystemBytes: number;
  /** Free bytes in that filesystem right now. */
  freeBytes: number;
  /** Sum of the sizes of every volume in the pool: what has been promised. */
  promisedBytes: number;
  /** Admin's overcommit ratio for thin volumes (1.0 = never promise more than the disk). */
  overprovisioning: number;
}

export interface Capacity {
  /** What a new thin volume can still be promised. */
  availableBytes: Bytes;
  /** The largest volume this pool could ever hold. */
  maximumVolumeBytes: Bytes;
}

/** Rounded down to whole MiB, since volume sizes are MiB multiples. */
const floorMiB = (n: number) => bytes(Math.max(0, Math.floor(n / MiB) * MiB));

export function computeCapacity(c: CapacityInput): Capacity {
  const promisable = c.filesystemBytes * c.overprovisioning;
  return {
    availableBytes: floorMiB(promisable - c.promisedBytes),
    maximumVolumeBytes: floorMiB(promisable),
  };
}

/** A thick volume needs the promise and real free space now. */
export function canPromise(size: Bytes, thick: boolean, c: CapacityInput): boolean {
  const { availableBytes } = computeCapacity(c);
  if (size > availableBytes) return false;
  return !thick || size <= c.freeBytes;
}
