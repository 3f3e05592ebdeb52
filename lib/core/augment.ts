/**
 * Augmentation: images shifted by a pixel or two, redrawn every epoch, so the network sees a
 * digit in slightly different places and cannot learn one pixel's value by heart. (Dropout, the
 * other regulariser, lives in Layer.step.)
 *
 * @module
 */
import type { Random } from "./random.ts";

/**
 * Each image moved by its own random whole-pixel offset, up to `maxShift` in each direction;
 * the pixels that come in are `background`.
 *
 * @param images `count` square images, row after row
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftImages } from "./augment.ts";
 * import { seededRandom } from "./random.ts";
 * const image = new Float32Array(9);
 * image[4] = 1; // the middle pixel of a 3 × 3 image
 * const shifted = shiftImages(image, 1, 1, seededRandom(2));
 * assertEquals(shifted.reduce((a, b) => a + b), 1); // moved by at most a pixel, never lost
 * ```
 */
export function shiftImages(
  images: Float32Array,
  count: number,
  maxShift: number,
  random: Random,
  background = 0,
): Float32Array {
  const pixels = images.length / count;
  const side = Math.round(Math.sqrt(pixels));
  if (!Number.isInteger(pixels) || side * side !== pixels) {
    throw new Error(`shift needs square images; ${count} images of ${pixels} values are not`);
  }
  if (!Number.isInteger(maxShift) || maxShift < 0 || maxShift >= side) {
    throw new Error(
      `shift must be a whole number of pixels from 0 to ${side - 1}, got ${maxShift}`,
    );
  }
  const out = new Float32Array(images.length).fill(background);
  const draw = () => Math.floor(random() * (2 * maxShift + 1)) - maxShift;
  for (let i = 0; i < count; i++) {
    const [dx, dy] = [draw(), draw()];
    const base = i * pixels;
    for (let y = Math.max(0, dy); y < Math.min(side, side + dy); y++) {
      const from = base + (y - dy) * side;
      const to = base + y * side;
      for (let x = Math.max(0, dx); x < Math.min(side, side + dx); x++) {
        out[to + x] = images[from + x - dx];
      }
    }
  }
  return out;
}
