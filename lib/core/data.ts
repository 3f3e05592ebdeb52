/**
 * Positive and negative data: an image with a label written into it.
 *
 * Forward-Forward needs the label inside the input, so that a layer can tell a real
 * (image, label) pair from a fake one. Positive data carries the true label, negative data a
 * wrong one: taken from another image (the post), always wrong, or the wrong label the network
 * itself finds most tempting (Hinton's "hard" negatives). A *neutral* label, the same small
 * value on every class, asks the network for its opinion without suggesting an answer.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { type Random, randperm, seededRandom } from "./random.ts";

/**
 * Where the label goes: `"concat"` appends a one-hot block after the pixels (the post's way,
 * 784 + 10 inputs); `"overlay"` writes it over the first `numClasses` pixels (Hinton's way and
 * the best-known PyTorch port's, 784 inputs); `"none"` leaves it out (unsupervised FF, whose
 * negatives are hybrid images, not wrong labels: see hybrid.ts).
 */
export type LabelMode = "concat" | "overlay" | "none";

/**
 * How negative labels are drawn: `"permute"` shuffles the true labels (the post's `y[randperm]`;
 * about 1 in 10 stays accidentally correct), `"wrong"` always picks a wrong one at random, and
 * `"hard"` samples wrong labels from the network's own scores (see {@linkcode hardNegativeLabels}).
 * `"hybrid"` is no label at all: negative images made of two digits (unsupervised FF, label
 * `"none"`; see hybrid.ts).
 */
export type NegativeMode = "permute" | "wrong" | "hard" | "hybrid";

/** Labels as the post passes them (a tensor) or as plain numbers. */
export type Labels = ArrayLike<number> | tf.Tensor;

/** How labels are written into the images. */
export interface LabelOptions {
  /** Width of the one-hot block. Default 10. */
  numClasses?: number;
  /** Default `"concat"`, the post's. */
  mode?: LabelMode;
  /**
   * The value of the label's entry: `"max"`, the brightest pixel of the batch (the post's
   * `oneHot(y) * x.max()`), or a number (Hinton's code writes 1). Default `"max"`.
   */
  value?: "max" | number;
}

/**
 * The labels as an Int32Array, checked: one per row, integers in 0..numClasses-1. Throws a
 * one-line error naming the option to change.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { labelArray } from "./data.ts";
 * assertEquals(labelArray([3, 1], 2, 10), Int32Array.from([3, 1]));
 * assertThrows(() => labelArray([3, 10], 2, 10), Error, "outside 0..9");
 * ```
 */
export function labelArray(y: Labels, rows: number, numClasses: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`numClasses must be an integer >= 2, got ${numClasses}`);
  }
  let values: ArrayLike<number>;
  if (y instanceof tf.Tensor) {
    if (y.rank !== 1) {
      throw new Error(`labels must be one per row, a 1-D tensor; got shape [${y.shape}]`);
    }
    values = y.dataSync(); // a WebGPU tensor cannot be read synchronously: pass an array there
  } else if (y !== null && typeof y === "object" && typeof y.length === "number") {
    values = y;
  } else {
    throw new Error(`labels must be an array or a 1-D tensor of integers, got ${typeof y}`);
  }
  if (values.length !== rows) {
    throw new Error(`got ${values.length} labels for ${rows} images: pass one label per row of x`);
  }
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const label = values[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new Error(
        `label ${label} at index ${i} is outside 0..${numClasses - 1}: pass integer labels ` +
          `below numClasses (${numClasses}), or raise numClasses`,
      );
    }
    labels[i] = label;
  }
  return labels;
}

/**
 * Writes labels into images: `hstack([x, oneHot(y) * max(x)])` in the post's way, or over the
 * first pixels with `mode: "overlay"`. `y = "neutral"` writes value / numClasses into every
 * label entry instead.
 *
 * @param x images, [n, features]
 * @param y one label per row (array or tensor), or `"neutral"`
 * @returns [n, features + numClasses] for concat, [n, features] for overlay, and for `"none"` a
 *   copy of x, the label left out
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { combineXY } from "./data.ts";
 * const x = tf.tensor2d([[0.25, 1], [0.5, 0.75]]);
 * assertEquals(combineXY(x, [1, 0], { numClasses: 3 }).arraySync(), [
 *   [0.25, 1, 0, 1, 0],
 *   [0.5, 0.75, 1, 0, 0],
 * ]);
 * assertEquals(combineXY(x, "neutral", { numClasses: 2, mode: "overlay", value: 1 }).arraySync(), [
 *   [0.5, 0.5],
 *   [0.5, 0.5],
 * ]);
 * ```
 */
export function combineXY(
  x: tf.Tensor2D,
  y: Labels | "neutral",
  { numClasses = 10, mode = "concat", value = "max" }: LabelOptions = {},
): tf.Tensor2D {
  if (!(x instanceof tf.Tensor) || x.rank !== 2) {
    throw new Error("x must be a 2-D tensor of images, one per row");
  }
  const [rows, features] = x.shape;
  if (mode !== "concat" && mode !== "overlay" && mode !== "none") {
    throw new Error(`label mode must be "concat", "overlay" or "none", got "${mode}"`);
  }
  if (value !== "max" && !Number.isFinite(value)) {
    throw new Error(`label value must be "max" or a number, got ${value}`);
  }
  if (mode === "overlay" && features < numClasses) {
    throw new Error(
      `overlay writes the label over the first ${numClasses} pixels, but x has ${features}: ` +
        `use mode "concat"`,
    );
  }
  const labels = y === "neutral" ? undefined : labelArray(y, rows, numClasses);
  if (mode === "none") return tf.clone(x);
  return tf.tidy((): tf.Tensor2D => {
    const strength = value === "max" ? tf.max(x) : tf.scalar(value);
    const block: tf.Tensor2D = labels === undefined
      ? tf.mul(tf.fill([rows, numClasses], 1 / numClasses), strength)
      : tf.mul(tf.oneHot(tf.tensor1d(labels, "int32"), numClasses), strength);
    if (mode === "concat") return tf.concat2d([x, block], 1);
    return tf.concat2d([block, tf.slice(x, [0, numClasses], [rows, features - numClasses])], 1);
  });
}

/**
 * Labels for negative data, drawn without looking at the network: `"permute"` (the post's) or
 * `"wrong"`. For `"hard"` negatives see {@linkcode hardNegativeLabels}.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { negativeLabels } from "./data.ts";
 * const y = Int32Array.from([3, 1, 4, 1, 5]);
 * const yNegative = negativeLabels(y, { mode: "wrong", seed: 0 });
 * assert(yNegative.every((label, i) => label !== y[i]));
 * ```
 */
export function negativeLabels(
  y: Labels,
  { mode = "permute", seed = 0, numClasses = 10 }: {
    mode?: "permute" | "wrong";
    seed?: number;
    numClasses?: number;
  } = {},
): Int32Array {
  const labels = labelArray(y, y instanceof tf.Tensor ? y.size : y.length, numClasses);
  if (mode === "permute") {
    const order = randperm(labels.length, seed);
    return Int32Array.from(order, (i) => labels[i]);
  }
  if (mode === "wrong") {
    // A shift of 1..numClasses-1 (mod numClasses) can never land on the true label.
    const random = seededRandom(seed);
    return labels.map((label) =>
      (label + 1 + Math.floor(random() * (numClasses - 1))) % numClasses
    );
  }
  throw new Error(`unknown negatives mode "${mode}": use "permute", "wrong" or "hard"`);
}

/**
 * How tempting each wrong label is: the softmax of the network's scores for a row, with the
 * true label ruled out (probability 0).
 *
 * @param scores [n, numClasses], e.g. the readout's logits on a neutral-label pass
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { hardNegativeProbabilities } from "./data.ts";
 * assertEquals(hardNegativeProbabilities(tf.tensor2d([[2, 0, 0]]), [0]).arraySync(), [[0, 0.5, 0.5]]);
 * ```
 */
export function hardNegativeProbabilities(scores: tf.Tensor2D, y: Labels): tf.Tensor2D {
  const [rows, numClasses] = scores.shape;
  const labels = labelArray(y, rows, numClasses);
  return tf.tidy(() => {
    const isTrue = tf.cast(tf.oneHot(tf.tensor1d(labels, "int32"), numClasses), "bool");
    return tf.softmax(tf.where(isTrue, tf.fill([rows, numClasses], -Infinity), scores));
  });
}

/**
 * One label per row, drawn with the row's probabilities (the first label whose cumulative
 * probability exceeds a uniform draw). A row whose probabilities fall short of 1 through
 * rounding gets its last label of positive probability.
 *
 * @param probabilities row after row, numClasses each
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { sampleLabels } from "./data.ts";
 * import { seededRandom } from "./random.ts";
 * const [first, second] = sampleLabels([0, 1, 0, 0.5, 0, 0.5], 3, seededRandom(1));
 * assertEquals(first, 1);
 * assert(second === 0 || second === 2);
 * ```
 */
export function sampleLabels(
  probabilities: ArrayLike<number>,
  numClasses: number,
  random: Random,
): Int32Array {
  const rows = probabilities.length / numClasses;
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const draw = random();
    let cumulative = 0;
    let chosen = -1;
    for (let k = 0; k < numClasses; k++) {
      const p = probabilities[r * numClasses + k];
      if (p > 0) chosen = k;
      cumulative += p;
      if (draw < cumulative) break;
    }
    labels[r] = chosen;
  }
  return labels;
}

/**
 * Hinton's hard negatives: for every row a wrong label drawn from the softmax of the network's
 * scores, so the network trains on the mistakes it is closest to making.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { hardNegativeLabels } from "./data.ts";
 * const scores = tf.tensor2d([[5, 30, -9], [0, 9, 30]]);
 * assertEquals(await hardNegativeLabels(scores, [0, 1], 7), Int32Array.from([1, 2]));
 * ```
 */
export async function hardNegativeLabels(
  scores: tf.Tensor2D,
  y: Labels,
  seed: number,
): Promise<Int32Array> {
  const probabilities = hardNegativeProbabilities(scores, y);
  const values = await probabilities.data();
  probabilities.dispose();
  return sampleLabels(values, scores.shape[1], seededRandom(seed));
}
