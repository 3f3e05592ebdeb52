/**
 * The FF loss and gradient (see ./goodness.ts), and the row normalisation of a layer's input,
 * as single kernels for the JavaScript backends.
 *
 * Why hand-written: on the cpu and blas backends each tfjs op is a full pass over the
 * activations, and a row-broadcast multiply or divide takes tfjs's slow general broadcasting
 * path (index arithmetic per element). Here each is two tight loops over a Float32Array: one
 * for each row's sum of squares, one to write the result.
 *
 * @module
 */
import { type MathBackendCPU, tf } from "./deps.ts";
import { FF_LOSS_GRAD, NORMALIZE_ROWS } from "./goodness.ts";

/** softplus(u) = log(1 + eᵘ), written so that it neither overflows nor loses small values. */
function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

function ffLossGradKernel(
  { inputs, backend, attrs }: {
    inputs: tf.NamedTensorInfoMap;
    backend: unknown;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const z = inputs.z as tf.TensorInfo;
  const numPositive = attrs!.numPositive as number;
  const threshold = attrs!.threshold as number;
  const [rows, width] = z.shape;
  const values = cpu.data.get(z.dataId).values as Float32Array;
  const dz = new Float32Array(rows * width);
  let lossSum = 0;
  // 2·relu(v) = v + |v|, exactly. Written so, the loops have no branch: activations are
  // positive about half the time at random, and mispredicted branches made them 4x slower.
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    const end = start + width;
    let sumTwiceSquares = 0;
    for (let i = start; i < end; i++) {
      const twiceH = values[i] + Math.abs(values[i]);
      sumTwiceSquares += twiceH * twiceH;
    }
    const sign = r < numPositive ? -1 : 1;
    const u = sign * (sumTwiceSquares / (4 * width) - threshold);
    lossSum += softplus(u);
    // ∂loss/∂z = s·sigmoid(u)/rows · 2h/width, and 2h = v + |v|.
    const scale = (sign / (1 + Math.exp(-u))) / (rows * width);
    for (let i = start; i < end; i++) dz[i] = scale * (values[i] + Math.abs(values[i]));
  }
  const loss = cpu.makeTensorInfo([], "float32", new Float32Array([lossSum / rows]));
  return [loss, cpu.makeTensorInfo([rows, width], "float32", dz)];
}

function normalizeRowsKernel(
  { inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown },
): tf.TensorInfo {
  const cpu = backend as MathBackendCPU;
  const x = inputs.x as tf.TensorInfo;
  const [rows, width] = x.shape;
  const values = cpu.data.get(x.dataId).values as Float32Array;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    const end = start + width;
    let sumSquares = 0;
    for (let i = start; i < end; i++) sumSquares += values[i] * values[i];
    const scale = 1 / (Math.sqrt(sumSquares) + 1e-8);
    for (let i = start; i < end; i++) out[i] = values[i] * scale;
  }
  return cpu.makeTensorInfo([rows, width], "float32", out);
}

/**
 * Registers the fused kernels for the given backends (those built on tfjs's cpu backend).
 *
 * @example
 * ```ts
 * registerFusedKernels(["cpu", "blas"]);
 * ```
 */
export function registerFusedKernels(backendNames: string[]): void {
  for (const backendName of backendNames) {
    for (
      const [kernelName, kernelFunc] of [
        [FF_LOSS_GRAD, ffLossGradKernel],
        [NORMALIZE_ROWS, normalizeRowsKernel],
      ] as const
    ) {
      if (tf.getKernel(kernelName, backendName) === undefined) {
        tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as tf.KernelFunc });
      }
    }
  }
}
