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
 * import { tf } from "./deps.ts";
 * import { goodness } from "./goodness.ts";
 * goodness(tf.tensor2d([[1, 3]])).print(); // [5]
 * goodness(tf.tensor2d([[1, 3]]), "sum").print(); // [10]
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
 * import { tf } from "./deps.ts";
 * import { ffLoss } from "./goodness.ts";
 * ffLoss(tf.tensor1d([3]), tf.tensor1d([1]), 2).print(); // softplus(-1) ≈ 0.3133
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

/**
 * The FF loss and its gradient with respect to a layer's pre-activations z = x̂Wᵀ + b, for
 * positive rows (the first `numPositive`) and negative rows (the rest) stacked in one matrix.
 *
 * With h = relu(z), g the goodness of each row, s = -1 for positive rows and +1 for negative
 * ones, u = s(g - θ), and loss = mean(softplus(u)) over all R rows, the chain rule gives
 *
 *   ∂loss/∂z = s · sigmoid(u) / R · ∂g/∂h,   ∂g/∂h = 2h / width ("mean") or 2h ("sum")
 *
 * one scale per row times h (zero where z ≤ 0, since h is).
 *
 * @example
 * ```ts
 * import { tf } from "./deps.ts";
 * import { ffLossAndGradient } from "./goodness.ts";
 * const z = tf.tensor2d([[1, -2], [0.5, 3]]); // row 0 positive, row 1 negative
 * const [loss, dz] = ffLossAndGradient(z, 1, 2); // loss ≈ 1.34; dz is 0 where z < 0
 * ```
 */
export function ffLossAndGradient(
  z: tf.Tensor2D,
  numPositive: number,
  threshold: number,
  kind: GoodnessKind = "mean",
): [tf.Scalar, tf.Tensor2D] {
  return lossAndGradientFormula({ z }, { numPositive, threshold, kind });
}

const lossAndGradientFormula: Fusable<
  { z: tf.Tensor2D },
  { numPositive: number; threshold: number; kind: GoodnessKind },
  [tf.Scalar, tf.Tensor2D]
> = fusable(
  "FFLossGrad",
  (
    { z }: { z: tf.Tensor2D },
    { numPositive, threshold, kind }: {
      numPositive: number;
      threshold: number;
      kind: GoodnessKind;
    },
  ): [tf.Scalar, tf.Tensor2D] => {
    const [rows, width] = z.shape;
    const h = tf.relu(z);
    const sign = tf.concat([tf.fill([numPositive], -1), tf.fill([rows - numPositive], 1)]);
    const u = tf.mul(sign, tf.sub(goodnessFormula.formula({ h }, { kind }), threshold));
    const loss: tf.Scalar = tf.mean(tf.softplus(u));
    const dgdh = kind === "sum" ? 2 : 2 / width;
    const rowScale = tf.mul(tf.mul(sign, tf.sigmoid(u)), dgdh / rows);
    return [loss, tf.mul(h, tf.reshape(rowScale, [rows, 1]))];
  },
);
ffLossAndGradient.kernel = lossAndGradientFormula;
