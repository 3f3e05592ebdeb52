/**
 * Seeded randomness. tfjs has seeded uniform tensors but no seeded permutation, and the same
 * seed must give the same numbers everywhere (tests, CLI, notebooks, a resumed run), so every
 * random choice in lib/ goes through this small generator.
 *
 * @module
 */

/** A function returning uniform floats in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a tiny, fast 32-bit generator; plenty for shuffles, labels and initial weights.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { seededRandom } from "./random.ts";
 * const [a, b] = [seededRandom(42), seededRandom(42)];
 * assertEquals([a(), a()], [b(), b()]); // the same seed, the same numbers
 * ```
 */
export function seededRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + MULBERRY32_STEP) >>> 0;
    return mulberry32(state) / 4294967296;
  };
}

/** How far mulberry32's state moves per draw. */
export const MULBERRY32_STEP = 0x6d2b79f5;

/**
 * mulberry32's output for a state, a 32-bit unsigned integer: {@linkcode seededRandom}'s draws
 * divided by 2³². Hot loops walk the state themselves and call this, which V8 inlines, instead of
 * calling a closure per draw.
 */
export function mulberry32(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/**
 * A seed for one purpose at one point of a run (say, epoch 7's shuffle), from the run's seed:
 * streams for different purposes never coincide, and a run resumed at epoch 7 draws exactly
 * what it would have drawn.
 *
 * @example
 * ```ts
 * import { assertEquals, assertNotEquals } from "@std/assert";
 * import { deriveSeed } from "./random.ts";
 * assertEquals(deriveSeed(42, 7, 1), deriveSeed(42, 7, 1));
 * assertNotEquals(deriveSeed(42, 7, 1), deriveSeed(42, 7, 2));
 * ```
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = Math.trunc(seed) >>> 0;
  for (const part of [...parts, parts.length]) {
    // murmur3's finaliser over each part folded in: well mixed, cheap, deterministic.
    h = Math.imul(h ^ (Math.trunc(part) >>> 0), 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * A random permutation of 0..n-1 (Fisher-Yates), like `torch.randperm(n)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { randperm } from "./random.ts";
 * assertEquals([...randperm(5, 7)].sort(), [0, 1, 2, 3, 4]);
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
 * import { assert } from "@std/assert";
 * import { uniform } from "./random.ts";
 * assert(uniform(6, -0.5, 0.5, 1).every((v) => v >= -0.5 && v < 0.5));
 * ```
 */
export function uniform(count: number, low: number, high: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = low + (high - low) * random();
  return values;
}

/**
 * `count` floats from a normal distribution with mean 0 and standard deviation `std`
 * (Box-Muller over {@linkcode seededRandom}).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { normal } from "./random.ts";
 * const w = normal(10_000, 0.1, 3);
 * const std = Math.sqrt(w.reduce((sum, v) => sum + v * v, 0) / w.length);
 * assert(Math.abs(std - 0.1) < 0.005, `standard deviation ${std}`);
 * ```
 */
export function normal(count: number, std: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random())) * std;
    const angle = 2 * Math.PI * random();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(angle);
  }
  return values;
}
