/**
 * Goodness and the Forward-Forward loss.
 *
 * A layer's goodness of an output row h is how active it is: the post takes the mean of h², with
 * threshold θ = 2; Hinton's code takes the sum of h², with θ = the layer's width. The loss pushes
 * positive rows above θ and negative rows below:
 *
 *   loss = mean(softplus(cat(θ - g_pos, g_neg - θ)))
 *
 * Hinton writes the same objective as a logistic: p(positive) = σ(g - θ), maximising log p for
 * positive rows and log(1 - p) for negative ones. Since -log σ(u) = softplus(-u), it is this loss.
 *
 * The post writes softplus as log(1 + exp(z)), which overflows to Infinity in float32 for
 * z > 88; tfjs's softplus is the stable form.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { type Fusable, fusable } from "./fusable.ts";

/** Goodness of a row: the mean of its squares (the post) or their sum (Hinton's code). */
export type GoodnessKind = "mean" | "sum";

/** The threshold each kind of goodness comes with: 2 for "mean" (the post), the width for "sum". */
export function defaultThreshold(kind: GoodnessKind, width: number): number {
  return kind === "sum" ? width : 2;
}

const goodnessFormula: Fusable<{ h: tf.Tensor2D }, { kind: GoodnessKind }, tf.Tensor1D> = fusable(
  "FFGoodness",
  ({ h }: { h: tf.Tensor2D }, { kind }: { kind: GoodnessKind }): tf.Tensor1D =>
    kind === "sum" ? tf.sum(tf.square(h), 1) : tf.mean(tf.square(h), 1),
);

/**
 * Goodness of every row of h: mean(h²) by default, sum(h²) with `"sum"`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { goodness } from "./goodness.ts";
 * assertEquals(goodness(tf.tensor2d([[1, 3]])).arraySync(), [5]);
 * assertEquals(goodness(tf.tensor2d([[1, 3]]), "sum").arraySync(), [10]);
 * ```
 */
export function goodness(h: tf.Tensor2D, kind: GoodnessKind = "mean"): tf.Tensor1D {
  return goodnessFormula({ h }, { kind });
}
goodness.kernel = goodnessFormula;

/**
 * The FF loss from the goodness of positive and negative rows.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { ffLoss } from "./goodness.ts";
 * // Both rows are on the right side of θ = 2 by 1: softplus(-1) each.
 * assertAlmostEquals(ffLoss(tf.tensor1d([3]), tf.tensor1d([1]), 2).arraySync() as number, 0.3133, 1e-4);
 * ```
 */
export function ffLoss(
  goodnessPositive: tf.Tensor1D,
  goodnessNegative: tf.Tensor1D,
  threshold: number,
): tf.Scalar {
  return tf.tidy(() =>
    tf.mean(
      tf.softplus(
        tf.concat([tf.sub(threshold, goodnessPositive), tf.sub(goodnessNegative, threshold)]),
      ),
    )
  );
}

/** Hinton's peer normalisation, for {@linkcode ffLossAndGradient}. */
export interface PeerNormalization {
  /** m: the running mean of each unit's activity on positive data, [width]. */
  meanActivity: tf.Tensor1D;
  /** λ: how hard every unit is pulled towards the layer's average activity (Hinton: 0.03). */
  coefficient: number;
}

/**
 * The FF loss, its gradient with respect to a layer's pre-activations z = x̂Wᵀ + b, and the
 * layer's activities h = relu(z), for positive rows (the first `numPositive`) and negative rows
 * (the rest) stacked in one matrix.
 *
 * With g the goodness of each row, s = -1 for positive rows and +1 for negative ones,
 * u = s(g - θ), and loss = mean(softplus(u)) over all R rows, the chain rule gives
 *
 *   ∂loss/∂z = s · sigmoid(u) / R · ∂g/∂h,   ∂g/∂h = 2h / width ("mean") or 2h ("sum")
 *
 * one scale per row times h (zero where z ≤ 0, since h is).
 *
 * With `peer`, Hinton's peer normalisation joins in, as in his code: the running mean of each
 * unit's activity on positive rows moves on, m' = 0.9m + 0.1·mean(h), and every positive row's
 * gradient gets λ(m' - mean(m')) / numPositive added, also where the relu is off, so that units
 * that never fire are pulled back and units that always fire are held back.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { ffLossAndGradient } from "./goodness.ts";
 * const z = tf.tensor2d([[1, -2], [0.5, 3]]); // row 0 positive, row 1 negative
 * const { dz, h } = ffLossAndGradient(z, 1, 2);
 * assertEquals(h.arraySync(), [[1, 0], [0.5, 3]]);
 * assertEquals(Math.abs(dz.arraySync()[0][1]), 0); // no gradient where the relu is off
 * ```
 */
export function ffLossAndGradient(
  z: tf.Tensor2D,
  numPositive: number,
  threshold: number,
  kind: GoodnessKind = "mean",
  peer?: PeerNormalization,
): { loss: tf.Scalar; dz: tf.Tensor2D; h: tf.Tensor2D; meanActivity?: tf.Tensor1D } {
  const inputs = peer ? { z, meanActivity: peer.meanActivity } : { z };
  const attrs = { numPositive, threshold, kind, peer: peer?.coefficient ?? 0 };
  const [loss, dz, h, meanActivity] = lossAndGradientFormula(inputs, attrs);
  return { loss, dz, h, ...(meanActivity && { meanActivity }) };
}

const lossAndGradientFormula: Fusable<
  { z: tf.Tensor2D; meanActivity?: tf.Tensor1D },
  { numPositive: number; threshold: number; kind: GoodnessKind; peer: number },
  [tf.Scalar, tf.Tensor2D, tf.Tensor2D] | [tf.Scalar, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D]
> = fusable(
  "FFLossGrad",
  (
    { z, meanActivity }: { z: tf.Tensor2D; meanActivity?: tf.Tensor1D },
    { numPositive, threshold, kind, peer }: {
      numPositive: number;
      threshold: number;
      kind: GoodnessKind;
      peer: number;
    },
  ): [tf.Scalar, tf.Tensor2D, tf.Tensor2D] | [tf.Scalar, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D] => {
    const [rows, width] = z.shape;
    const h = tf.relu(z);
    const sign = tf.concat([tf.fill([numPositive], -1), tf.fill([rows - numPositive], 1)]);
    const u = tf.mul(sign, tf.sub(goodnessFormula.formula({ h }, { kind }), threshold));
    const loss: tf.Scalar = tf.mean(tf.softplus(u));
    const dgdh = kind === "sum" ? 2 : 2 / width;
    const rowScale = tf.mul(tf.mul(sign, tf.sigmoid(u)), dgdh / rows);
    const dz: tf.Tensor2D = tf.mul(h, tf.reshape(rowScale, [rows, 1]));
    if (!meanActivity) return [loss, dz, h];
    const positive = tf.slice2d(h, [0, 0], [numPositive, width]);
    const m: tf.Tensor1D = tf.add(tf.mul(meanActivity, 0.9), tf.mul(tf.mean(positive, 0), 0.1));
    const pull = tf.mul(tf.sub(m, tf.mean(m)), peer / numPositive);
    const isPositive = tf.concat([tf.ones([numPositive, 1]), tf.zeros([rows - numPositive, 1])]);
    return [loss, tf.add(dz, tf.mul(isPositive, tf.reshape(pull, [1, width]))), h, m];
  },
);
ffLossAndGradient.kernel = lossAndGradientFormula;
