/**
 * A small seeded pseudo-random generator (the mulberry32 idea: a 32-bit counter stepped by an odd
 * constant, then mixed), so that an exercise is the same for the same seed on every machine.
 */

/** Returns a generator of numbers in [0, 1) determined by `seed` (its low 32 bits). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Folds a safe-integer seed and extra parameters into one 32-bit seed. */
export function mixSeed(seed: number, ...more: number[]): number {
  let h = 0x811c9dc5;
  const eat = (v: number): void => {
    h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  };
  eat(seed % 4294967296);
  eat(Math.floor(seed / 4294967296));
  for (const m of more) eat(m);
  return h;
}
