import { bytes, GiB, MiB, roundUpTo, type Bytes } from '../domain/bytes.js';
import { invalidArgument, outOfRange } from '../domain/errors.js';
import type { CapacityRange } from '../wire/types.js';

/** Size of a volume created with no capacity_range. */
export const DEFAULT_VOLUME_SIZE = bytes(1 * GiB);
export const SIZE_UNIT = MiB;

/** A CapacityRange in the generated type's widest form: int64 may arrive as a number or a decimal string. */
export type WireCapacityRange = CapacityRange;

/**
 * The size to allocate: required_bytes rounded up to a whole MiB, which must
 * stay within limit_bytes. With no range, DEFAULT_VOLUME_SIZE (capped by the limit).
 */
export function sizeForRange(range: WireCapacityRange | null | undefined): Bytes {
  const required = Number(range?.required_bytes ?? 0);
  const limit = Number(range?.limit_bytes ?? 0);
  if (!Number.isFinite(required) || !Number.isFinite(limit) || required < 0 || limit < 0) {
    throw invalidArgument('capacity_range must not be negative');
  }
  if (limit > 0 && required > limit) {
    throw outOfRange(`required_bytes ${required} is larger than limit_bytes ${limit}`);
  }
  if (required === 0) {
    if (limit === 0) return DEFAULT_VOLUME_SIZE;
    const capped = Math.floor(Math.min(DEFAULT_VOLUME_SIZE, limit) / SIZE_UNIT) * SIZE_UNIT;
    if (capped === 0) throw outOfRange(`limit_bytes ${limit} is smaller than the smallest volume (1 MiB)`);
    return bytes(capped);
  }
  const size = roundUpTo(required, SIZE_UNIT);
  if (limit > 0 && size > limit) {
    throw outOfRange(`no whole number of MiB lies between required_bytes ${required} and limit_bytes ${limit}`);
  }
  return size;
}

/** Whether an existing size satisfies a (repeated) request's range. */
export function sizeSatisfies(size: number, range: WireCapacityRange | null | undefined): boolean {
  const required = Number(range?.required_bytes ?? 0);
  const limit = Number(range?.limit_bytes ?? 0);
  return size >= required && (limit === 0 || size <= limit);
}
