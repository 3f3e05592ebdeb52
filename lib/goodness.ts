/**
 * Goodness and the Forward-Forward loss.
 *
 * Goodness of a layer's output row h is mean(h²). The loss pushes goodness of positive rows
 * above the threshold θ and of negative rows below it:
 *
 *   loss = mean(softplus(cat(θ - g_pos, g_neg - θ)))
 *
 * The post writes softplus as log(1 + exp(z)), which overflows to Infinity in float32 for
 * z > 88; tfjs's softplus is the stable form.
 *
 * @module
 */
import { tf } from "./deps.ts";

/**
 * Mean of squares per row (one pass, no [n, width] temporary, where the backend has the fused
 * kernel of ./fused.ts).
 *
 * @example
 * ```ts
 * goodness(tf.tensor2d([[1, 3]])); // [5]
 * ```
 */
export function goodness(h: tf.Tensor2D): tf.Tensor1D {
  if (tf.getKernel(GOODNESS, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(GOODNESS, { h }) as tf.Tensor1D;
  }
  return tf.tidy(() => tf.mean(tf.square(h), 1));
}

/**
 * The FF loss from the goodness of positive and negative rows.
 *
 * @example
 * ```ts
 * ffLoss(tf.tensor1d([3]), tf.tensor1d([1]), 2); // softplus(-1) ≈ 0.3133
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
        tf.concat([
          tf.sub(threshold, goodnessPositive),
          tf.sub(goodnessNegative, threshold),
        ]),
      ),
    )
  );
}

/** Name of the fused goodness that backends may register (see {@linkcode goodness}). */
export const GOODNESS = "FFGoodness";

/** Name of the fused row normalisation that backends may register (see normalizeRows). */
export const NORMALIZE_ROWS = "FFNormalizeRows";

/** Name of the fused kernel that backends may register (see {@linkcode ffLossAndGradient}). */
export const FF_LOSS_GRAD = "FFLossGrad";

/**
 * The FF loss and its gradient with respect to the pre-activation z = x̂Wᵀ + b of a layer, for
 * positive rows (the first `numPositive`) and negative rows (the rest) stacked in one matrix.
 *
 * With h = relu(z), g = mean(h²) per row, s = -1 for positive rows and +1 for negative rows,
 * u = s(g - θ) and loss = mean(softplus(u)) over all R rows, the chain rule gives
 *
 *   ∂loss/∂z = s · sigmoid(u) / R · 2h / width     (zero where z ≤ 0, since h is)
 *
 * one scale per row times h. Where the backend has the fused kernel (the cpu and blas
 * backends, see ./fused.ts) that is two passes over z; elsewhere the same formula as tfjs ops.
 *
 * @example
 * ```ts
 * const z = tf.tensor2d([[1, -2], [0.5, 3]]); // row 0 positive, row 1 negative
 * const { loss, dz } = ffLossAndGradient(z, 1, 2);
 * ```
 */
export function ffLossAndGradient(
  z: tf.Tensor2D,
  numPositive: number,
  threshold: number,
): { loss: tf.Scalar; dz: tf.Tensor2D } {
  if (tf.getKernel(FF_LOSS_GRAD, tf.getBackend()) !== undefined) {
    const [loss, dz] = tf.engine().runKernel(
      FF_LOSS_GRAD,
      { z },
      { numPositive, threshold },
    ) as [tf.Scalar, tf.Tensor2D];
    return { loss, dz };
  }
  return tf.tidy(() => {
    const [rows, width] = z.shape;
    const h = tf.relu(z);
    const g = tf.mean(tf.square(h), 1);
    const sign = tf.concat([tf.fill([numPositive], -1), tf.fill([rows - numPositive], 1)]);
    const u = tf.mul(sign, tf.sub(g, threshold));
    const loss = tf.mean(tf.softplus(u));
    const rowScale = tf.mul(tf.mul(sign, tf.sigmoid(u)), 2 / (rows * width));
    const dz = tf.mul(h, tf.reshape(rowScale, [rows, 1]));
    return { loss, dz } as { loss: tf.Scalar; dz: tf.Tensor2D };
  });
}
