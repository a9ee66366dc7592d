// Chaos helper: a seeded random source, so a failing run can be replayed with the seed it printed.

export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  shuffle<T>(items: readonly T[]): T[];
}

/** The seed from QUARRY_CHAOS_SEED, else a fresh one; printed either way so the run can be repeated. */
export function chaosRng(label: string): Rng {
  const fromEnv = process.env.QUARRY_CHAOS_SEED;
  const seed = fromEnv ? Number.parseInt(fromEnv, 10) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  process.stderr.write(`chaos ${label}: seed ${seed} (repeat with QUARRY_CHAOS_SEED=${seed})\n`);
  return seededRng(seed);
}

/** mulberry32: tiny, fast, and good enough to pick operations and instants. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    between: (lo, hi) => lo + int(hi - lo + 1),
    pick: (items) => items[int(items.length)]!,
    chance: (p) => next() < p,
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}
