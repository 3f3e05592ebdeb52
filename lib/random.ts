/**
 * Seeded randomness. tfjs has seeded uniform tensors but no seeded permutation, and the
 * same seed must give the same numbers everywhere (tests, CLI, notebooks), so every random
 * choice in lib/ goes through this small generator.
 *
 * @module
 */

/** A function returning uniform floats in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a tiny, fast 32-bit generator; plenty for shuffles and initial weights.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const u = random(); // 0 <= u < 1, the same on every run
 * ```
 */
export function seededRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random permutation of 0..n-1 (Fisher-Yates), like `torch.randperm(n)`.
 *
 * @example
 * ```ts
 * const order = randperm(5, 7); // e.g. Int32Array [3, 0, 4, 1, 2]
 * ```
 */
export function randperm(n: number, seed: number): Int32Array {
  const random = seededRandom(seed);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * `count` floats drawn uniformly from [low, high).
 *
 * @example
 * ```ts
 * const w = uniform(6, -0.5, 0.5, 1); // Float32Array of 6 values in [-0.5, 0.5)
 * ```
 */
export function uniform(count: number, low: number, high: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = low + (high - low) * random();
  return values;
}
