declare const brand: unique symbol;
/** A size in bytes. Numbers are exact up to 8 PiB, far beyond any volume we create. */
export type Bytes = number & { readonly [brand]: 'Bytes' };

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export const bytes = (n: number): Bytes => n as Bytes;

export function roundUpTo(n: number, unit: number): Bytes {
  return bytes(Math.ceil(n / unit) * unit);
}
