/**
 * The core's formulas (lib/core/: goodness, row normalisation, the FF loss and its gradient, the
 * Adam and SGD updates) as single kernels for the JavaScript backends, cpu and blas. Each
 * computes exactly its formula; tests/kernels_test.ts holds them equal on random inputs.
 *
 * Why hand-written: on these backends each tfjs op is a full pass over the activations, and a
 * row-broadcast multiply or divide takes tfjs's slow general broadcasting path (index arithmetic
 * per element). Here each is two tight loops over a Float32Array: one for each row's sum of
 * squares, one to write the result.
 *
 * @module
 */
import { type MathBackendCPU, tf } from "../deps.ts";
import { adamUpdate, ffLossAndGradient, goodness, normalizeRows, sgdUpdate } from "../core/mod.ts";
import { allocateOutput } from "./pool.ts";

type KernelArgs = Parameters<tf.KernelFunc>[0];

function valuesOf(backend: MathBackendCPU, info: tf.TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}

/** softplus(u) = log(1 + eᵘ), written so that it neither overflows nor loses small values. */
function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

/** See ffLossAndGradient in lib/core/goodness.ts. */
function ffLossGradKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const z = inputs.z as tf.TensorInfo;
  const { numPositive, threshold, kind } = attrs as {
    numPositive: number;
    threshold: number;
    kind: string;
  };
  const [rows, width] = z.shape;
  const values = valuesOf(cpu, z);
  const dz = allocateOutput(backend, rows * width);
  // g = Σh²/width or Σh², with 2h = v + |v|: so g = Σ(2h)² / (4·width) or / 4.
  const goodnessScale = kind === "sum" ? 1 / 4 : 1 / (4 * width);
  // ∂g/∂h = 2h/width or 2h, and 2h = v + |v| again.
  const gradientScale = kind === "sum" ? 1 / rows : 1 / (rows * width);
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
    const u = sign * (sumTwiceSquares * goodnessScale - threshold);
    lossSum += softplus(u);
    const scale = (sign / (1 + Math.exp(-u))) * gradientScale;
    for (let i = start; i < end; i++) dz[i] = scale * (values[i] + Math.abs(values[i]));
  }
  const loss = cpu.makeTensorInfo([], "float32", new Float32Array([lossSum / rows]));
  return [loss, cpu.makeTensorInfo([rows, width], "float32", dz)];
}

/** See normalizeRows in lib/core/layer.ts. */
function normalizeRowsKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const cpu = backend as MathBackendCPU;
  const x = inputs.x as tf.TensorInfo;
  const rms = (attrs as { kind: string }).kind === "rms";
  const [rows, width] = x.shape;
  const values = valuesOf(cpu, x);
  const out = allocateOutput(backend, rows * width);
  const tiny = rms ? Math.exp(-100) : 1e-8;
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    const end = start + width;
    let sumSquares = 0;
    for (let i = start; i < end; i++) sumSquares += values[i] * values[i];
    const scale = 1 / (Math.sqrt(rms ? sumSquares / width : sumSquares) + tiny);
    for (let i = start; i < end; i++) out[i] = values[i] * scale;
  }
  return cpu.makeTensorInfo([rows, width], "float32", out);
}

/** See goodness in lib/core/goodness.ts. */
function goodnessKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const cpu = backend as MathBackendCPU;
  const h = inputs.h as tf.TensorInfo;
  const divisor = (attrs as { kind: string }).kind === "sum" ? 1 : h.shape[1];
  const [rows, width] = h.shape;
  const values = valuesOf(cpu, h);
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sumSquares = 0;
    for (let i = r * width; i < (r + 1) * width; i++) sumSquares += values[i] * values[i];
    out[r] = sumSquares / divisor;
  }
  return cpu.makeTensorInfo([rows], "float32", out);
}

function outputs(
  cpu: MathBackendCPU,
  shape: number[],
  count: number,
): { infos: () => tf.TensorInfo[]; arrays: Float32Array[] } {
  const length = tf.util.sizeFromShape(shape);
  const arrays = Array.from({ length: count }, () => allocateOutput(cpu, length));
  return { arrays, infos: () => arrays.map((a) => cpu.makeTensorInfo(shape, "float32", a)) };
}

/** See adamUpdate in lib/core/optim.ts. */
function adamUpdateKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const [p, m, v, g] = ["p", "m", "v", "g"].map((name) =>
    valuesOf(cpu, inputs[name] as tf.TensorInfo)
  );
  const { learningRate, beta1, beta2, epsilon, step } = attrs as Record<string, number>;
  const stepSize = learningRate / (1 - beta1 ** step);
  const rootCorrection = Math.sqrt(1 - beta2 ** step);
  const out = outputs(cpu, (inputs.p as tf.TensorInfo).shape, 3);
  const [p1, m1, v1] = out.arrays;
  for (let i = 0; i < p.length; i++) {
    m1[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v1[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    p1[i] = p[i] - stepSize * m1[i] / (Math.sqrt(v1[i]) / rootCorrection + epsilon);
  }
  return out.infos();
}

/** See sgdUpdate in lib/core/optim.ts. */
function sgdUpdateKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const [p, v, g] = ["p", "v", "g"].map((name) => valuesOf(cpu, inputs[name] as tf.TensorInfo));
  const { learningRate, momentum, weightDecay } = attrs as Record<string, number>;
  const out = outputs(cpu, (inputs.p as tf.TensorInfo).shape, 2);
  const [p1, v1] = out.arrays;
  for (let i = 0; i < p.length; i++) {
    v1[i] = momentum * v[i] + (1 - momentum) * g[i];
    p1[i] = p[i] - learningRate * (v1[i] + weightDecay * p[i]);
  }
  return out.infos();
}

/** Every fused kernel of this file, under the name of the formula it computes. */
export const CPU_KERNELS: readonly [string, tf.KernelFunc][] = [
  [ffLossAndGradient.kernel.kernelName, ffLossGradKernel as tf.KernelFunc],
  [normalizeRows.kernel.kernelName, normalizeRowsKernel as tf.KernelFunc],
  [goodness.kernel.kernelName, goodnessKernel as tf.KernelFunc],
  [adamUpdate.kernelName, adamUpdateKernel as tf.KernelFunc],
  [sgdUpdate.kernelName, sgdUpdateKernel as tf.KernelFunc],
];
