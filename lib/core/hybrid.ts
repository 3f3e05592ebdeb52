/**
 * Hinton's negative data for unsupervised Forward-Forward (paper §3.2): *hybrid* images, one
 * digit where a mask is 1 and another digit where it is 0. A mask made of fairly large regions
 * keeps each image's short-range correlations (strokes look like strokes) and breaks its
 * long-range ones (the whole is no digit), so a layer that tells real digits from hybrids must
 * learn shapes, not local statistics; and no label is needed anywhere.
 *
 * The mask: a random bit image, blurred repeatedly with the filter [1/4, 1/2, 1/4] horizontally
 * and vertically, then thresholded at 0.5. The paper does not say how many times; public ports
 * use 6 or 10. Each blur spreads a pixel's bit by about 0.7 pixels (a variance of 1/2 per pass),
 * so after k blurs the regions are about √(k/2)·2 pixels across: 10 blurs (the default here)
 * give regions of 4 to 5 pixels, a quarter of a digit, "fairly large" beside a stroke's 2 to 3.
 *
 * @module
 */
import { checkRange } from "./check.ts";
import { deriveSeed, mulberry32, MULBERRY32_STEP } from "./random.ts";

/** Blurs of the random bit image behind a mask, by default (the paper is silent; see above). */
export const DEFAULT_BLURS = 10;

/** Options of {@linkcode hybridMasks}. */
export interface MaskOptions {
  /** Times the bit image is blurred both ways before the threshold. Default 10. */
  blurs?: number;
  /** Seed of the bits. Default 0. */
  seed?: number;
}

/**
 * `count` square masks of `pixels` values each (0 or 1, row after row, mask after mask): each
 * pixel's bit drawn as `random() < 0.5` in that order from `seededRandom(seed)`, the image blurred
 * `blurs` times with [1/4, 1/2, 1/4] along rows and then along columns, and a pixel 1 where the
 * blurred value exceeds 0.5. At the border the edge pixel stands in for the one outside (the blur
 * keeps a constant image constant), so that the border is 1 as often as the middle: a mask's mean
 * is near 0.5 everywhere.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { hybridMasks } from "./hybrid.ts";
 * const masks = hybridMasks(100, 784, { seed: 1 });
 * assert(masks.every((v) => v === 0 || v === 1));
 * const mean = masks.reduce((a, b) => a + b) / masks.length;
 * assert(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
 * assertEquals(hybridMasks(2, 784, { seed: 1 }), masks.subarray(0, 2 * 784)); // seeded
 * ```
 */
export function hybridMasks(
  count: number,
  pixels: number,
  { blurs = DEFAULT_BLURS, seed = 0 }: MaskOptions = {},
): Float32Array {
  const side = squareSide(pixels);
  checkCount(count);
  checkBlurs(blurs);
  checkRange("seed", seed, {});
  const masks = new Float32Array(count * pixels);
  // seededRandom's own steps, walked here: a closure call per pixel is the loop's whole cost.
  let state = Math.trunc(seed) >>> 0;
  for (let i = 0; i < masks.length; i++) {
    state = (state + MULBERRY32_STEP) >>> 0;
    masks[i] = mulberry32(state) / 4294967296 < 0.5 ? 1 : 0;
  }
  const image = new Float64Array(pixels);
  for (let m = 0; m < count; m++) {
    const mask = masks.subarray(m * pixels, (m + 1) * pixels);
    image.set(mask);
    for (let b = 0; b < blurs; b++) {
      blurLines(image, side, 1, side); // along each row
      blurLines(image, side, side, 1); // along each column
    }
    for (let i = 0; i < pixels; i++) mask[i] = image[i] > 0.5 ? 1 : 0;
  }
  return masks;
}

/**
 * [1/4, 1/2, 1/4] along `side` lines of `side` values, in place, the edge value standing in for
 * the one beyond it: line k starts at `k * across` and its values lie `along` apart.
 */
function blurLines(image: Float64Array, side: number, along: number, across: number): void {
  const last = (side - 1) * along;
  for (let start = 0, k = 0; k < side; k++, start += across) {
    let previous = image[start];
    for (let j = start, end = start + last; j <= end; j += along) {
      const current = image[j];
      const next = j < end ? image[j + along] : current;
      image[j] = 0.25 * previous + 0.5 * current + 0.25 * next;
      previous = current;
    }
  }
}

/** Options of {@linkcode hybridNegatives}. */
export interface HybridOptions extends MaskOptions {
  /** Values per image, a square number. Default 784 (28 × 28, MNIST's). */
  pixels?: number;
}

/** Hybrid images and what made them. */
export interface Hybrids {
  /** `a · mask + b · (1 − mask)` for each pair, row after row. */
  images: Float32Array;
  /** The masks, 0 or 1 (see {@linkcode hybridMasks}). */
  masks: Float32Array;
  /** The row of `images` each hybrid took its b from. */
  partners: Int32Array;
}

/**
 * One hybrid negative for each row in `rows`: that image (a) where a fresh mask is 1, another
 * image (b) where it is 0. b is a *different image*, drawn at random from all of `images`, never the row
 * itself; it may show the same digit class. The paper combines "a different digit image", and
 * unsupervised FF uses no labels at all: choosing b by its class would let the labels into the
 * layers' training. The masks come from `deriveSeed(seed, 1)`, the partners from
 * `deriveSeed(seed, 2)`: a caller that passes a new seed every epoch redraws both.
 *
 * @param images square images, row after row
 * @param rows the images to make hybrids of (a), by row
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { hybridNegatives } from "./hybrid.ts";
 * // Four 2 × 2 "images", each of one value: 0, 1, 2, 3.
 * const images = Float32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
 * const { images: hybrids, masks, partners } = hybridNegatives(images, [1, 3], {
 *   pixels: 4,
 *   seed: 5,
 * });
 * assert(partners[0] !== 1 && partners[1] !== 3); // b is never a itself
 * hybrids.forEach((v, i) => {
 *   const [a, b] = [[1, 3][i >> 2], partners[i >> 2]];
 *   assertEquals(v, masks[i] === 1 ? a : b); // each pixel from a or b, as the mask says
 * });
 * ```
 */
export function hybridNegatives(
  images: Float32Array,
  rows: ArrayLike<number>,
  { pixels = 784, seed = 0, ...maskOptions }: HybridOptions = {},
): Hybrids {
  squareSide(pixels);
  checkRange("seed", seed, {});
  const available = images.length / pixels;
  if (!Number.isInteger(available) || available < 2) {
    throw new Error(
      `images holds ${images.length} values, not two or more images of ${pixels} pixels: a ` +
        `hybrid needs two different images (set pixels to the image size)`,
    );
  }
  const count = rows.length;
  for (let i = 0; i < count; i++) {
    if (!Number.isInteger(rows[i]) || rows[i] < 0 || rows[i] >= available) {
      throw new Error(`rows[${i}] = ${rows[i]} is not an image: use 0..${available - 1}`);
    }
  }
  const masks = hybridMasks(count, pixels, { ...maskOptions, seed: deriveSeed(seed, 1) });
  // A shift of 1..pool-1 (mod pool) never lands on the row itself.
  const partners = new Int32Array(count);
  let state = deriveSeed(seed, 2);
  for (let i = 0; i < count; i++) {
    state = (state + MULBERRY32_STEP) >>> 0;
    const offset = 1 + Math.floor(mulberry32(state) / 4294967296 * (available - 1));
    partners[i] = (rows[i] + offset) % available;
  }
  const out = new Float32Array(count * pixels);
  for (let i = 0; i < count; i++) {
    const [a, b] = [rows[i] * pixels, partners[i] * pixels];
    const at = i * pixels;
    // A select, not a sum of products: the very pixel of a or b, as `a·mask + b·(1 − mask)`
    // gives for a mask of 0s and 1s.
    for (let p = 0; p < pixels; p++) {
      out[at + p] = masks[at + p] === 1 ? images[a + p] : images[b + p];
    }
  }
  return { images: out, masks, partners };
}

function squareSide(pixels: number): number {
  const side = Math.round(Math.sqrt(pixels));
  if (!Number.isInteger(pixels) || pixels < 1 || side * side !== pixels) {
    throw new Error(`masks are square: pixels must be a square number, got ${pixels}`);
  }
  return side;
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new Error(`count must be a whole number of masks, 0 or more, got ${count}`);
  }
}

/** Throws a one-line error naming `blurs` unless it is a whole number, 0 or more. */
export function checkBlurs(blurs: unknown): void {
  if (!Number.isInteger(blurs) || (blurs as number) < 0) {
    throw new Error(`blurs must be a whole number of blurs, 0 or more, got ${blurs}`);
  }
}
