/**
 * The FF loss and gradient, goodness (see ./goodness.ts), the row normalisation of a layer's
 * input and the Adam update (see ./adam.ts), as single kernels for the JavaScript backends.
 *
 * Why hand-written: on the cpu and blas backends each tfjs op is a full pass over the
 * activations, and a row-broadcast multiply or divide takes tfjs's slow general broadcasting
 * path (index arithmetic per element). Here each is two tight loops over a Float32Array: one
 * for each row's sum of squares, one to write the result.
 *
 * @module
 */
import { type MathBackendCPU, tf } from "./deps.ts";
import { ADAM_UPDATE } from "./adam.ts";
import { allocateOutput } from "./blas.ts";
import { FF_LOSS_GRAD, GOODNESS, NORMALIZE_ROWS } from "./goodness.ts";

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** softplus(u) = log(1 + eᵘ), written so that it neither overflows nor loses small values. */
function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

function ffLossGradKernel(
  { inputs, backend, attrs }: KernelArgs,
): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const z = inputs.z as tf.TensorInfo;
  const numPositive = attrs!.numPositive as number;
  const threshold = attrs!.threshold as number;
  const [rows, width] = z.shape;
  const values = cpu.data.get(z.dataId).values as Float32Array;
  const dz = allocateOutput(backend, rows * width);
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
  { inputs, backend }: KernelArgs,
): tf.TensorInfo {
  const cpu = backend as MathBackendCPU;
  const x = inputs.x as tf.TensorInfo;
  const [rows, width] = x.shape;
  const values = cpu.data.get(x.dataId).values as Float32Array;
  const out = allocateOutput(backend, rows * width);
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

function goodnessKernel(
  { inputs, backend }: KernelArgs,
): tf.TensorInfo {
  const cpu = backend as MathBackendCPU;
  const h = inputs.h as tf.TensorInfo;
  const [rows, width] = h.shape;
  const values = cpu.data.get(h.dataId).values as Float32Array;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sumSquares = 0;
    for (let i = r * width; i < (r + 1) * width; i++) sumSquares += values[i] * values[i];
    out[r] = sumSquares / width;
  }
  return cpu.makeTensorInfo([rows], "float32", out);
}

function adamUpdateKernel(
  { inputs, backend, attrs }: KernelArgs,
): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const [p, m, v, g] = ["p", "m", "v", "g"].map((name) =>
    cpu.data.get((inputs[name] as tf.TensorInfo).dataId).values as Float32Array
  );
  const { learningRate, beta1, beta2, epsilon, step } = attrs as Record<string, number>;
  const stepSize = learningRate / (1 - beta1 ** step);
  const rootCorrection = Math.sqrt(1 - beta2 ** step);
  const [p1, m1, v1] = [0, 1, 2].map(() => new Float32Array(p.length));
  for (let i = 0; i < p.length; i++) {
    m1[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v1[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    p1[i] = p[i] - stepSize * m1[i] / (Math.sqrt(v1[i]) / rootCorrection + epsilon);
  }
  const shape = (inputs.p as tf.TensorInfo).shape;
  return [p1, m1, v1].map((values) => cpu.makeTensorInfo(shape, "float32", values));
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
        [GOODNESS, goodnessKernel],
        [ADAM_UPDATE, adamUpdateKernel],
      ] as const
    ) {
      if (tf.getKernel(kernelName, backendName) === undefined) {
        tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as tf.KernelFunc });
      }
    }
  }
}
