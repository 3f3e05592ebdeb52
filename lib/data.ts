/**
 * Positive and negative data: an image with a label attached to it.
 *
 * Forward-Forward needs the label inside the input, so a layer can tell a real
 * (image, label) pair from a fake one. Positive data carries the true label, negative data a
 * label taken from another image.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { randperm, seededRandom } from "./random.ts";

/**
 * Where the label goes: `"concat"` appends a one-hot block after the pixels (the post's way,
 * 784 + 10 inputs); `"overlay"` writes it over the first `numClasses` pixels instead (the
 * best-known PyTorch port's way, 784 inputs).
 */
export type LabelMode = "concat" | "overlay";

/**
 * How negative labels are drawn: `"permute"` shuffles the true labels (the post's
 * `y[randperm]`; about 1 in 10 stays accidentally correct), `"wrong"` always picks a wrong one.
 */
export type NegativeMode = "permute" | "wrong";

/** Throws a one-line error unless every label is an integer in 0..numClasses-1. */
export function checkLabels(labels: ArrayLike<number>, numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`numClasses must be an integer >= 2, got ${numClasses}`);
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new Error(
        `label ${label} at index ${i} is outside 0..${
          numClasses - 1
        }: pass integer labels below numClasses (${numClasses})`,
      );
    }
  }
}

/**
 * Attaches labels to images: `hstack([x, oneHot(y) * max(x)])`, with `max` taken over the
 * whole batch as in the post (so the label is as loud as the brightest pixel).
 *
 * @param x images, [n, features]
 * @param y one label per row, integers in 0..numClasses-1
 * @param numClasses width of the one-hot block
 * @param mode `"concat"` (default, the post) or `"overlay"`
 * @returns [n, features + numClasses] for concat, [n, features] for overlay
 *
 * @example
 * ```ts
 * const x = tf.tensor2d([[0.1, 0.9], [0.5, 0.2]]);
 * const xPositive = combineXY(x, [1, 0], 3); // [[0.1, 0.9, 0, 0.9, 0], [0.5, 0.2, 0.9, 0, 0]]
 * ```
 */
export function combineXY(
  x: tf.Tensor2D,
  y: ArrayLike<number>,
  numClasses = 10,
  mode: LabelMode = "concat",
): tf.Tensor2D {
  const [rows, features] = x.shape;
  if (y.length !== rows) {
    throw new Error(`got ${y.length} labels for ${rows} images: pass one label per row of x`);
  }
  checkLabels(y, numClasses);
  if (mode === "overlay" && features < numClasses) {
    throw new Error(`overlay needs at least ${numClasses} features per row, x has ${features}`);
  }
  return tf.tidy((): tf.Tensor2D => {
    const label: tf.Tensor2D = tf.mul(
      tf.oneHot(tf.tensor1d(Array.from(y), "int32"), numClasses),
      tf.max(x),
    );
    if (mode === "concat") return tf.concat2d([x, label], 1);
    return tf.concat2d([label, tf.slice(x, [0, numClasses], [rows, features - numClasses])], 1);
  });
}

/**
 * Labels for negative data.
 *
 * @example
 * ```ts
 * const y = Int32Array.from([3, 1, 4, 1, 5]);
 * const yNeg = negativeLabels(y, { mode: "wrong", seed: 0 }); // yNeg[i] !== y[i] for every i
 * ```
 */
export function negativeLabels(
  y: ArrayLike<number>,
  { mode = "permute", seed = 0, numClasses = 10 }: {
    mode?: NegativeMode;
    seed?: number;
    numClasses?: number;
  } = {},
): Int32Array {
  checkLabels(y, numClasses);
  if (mode === "permute") {
    const order = randperm(y.length, seed);
    return Int32Array.from(order, (i) => y[i]);
  }
  if (mode === "wrong") {
    // A shift of 1..numClasses-1 (mod numClasses) can never land on the true label.
    const random = seededRandom(seed);
    return Int32Array.from(
      { length: y.length },
      (_, i) => (y[i] + 1 + Math.floor(random() * (numClasses - 1))) % numClasses,
    );
  }
  throw new Error(`unknown negatives mode "${mode}": use "permute" or "wrong"`);
}
