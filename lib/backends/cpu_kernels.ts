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
import type { MathBackendCPU, tf } from "../deps.ts";
import { adamUpdate, ffLossAndGradient, goodness, normalizeRows, sgdUpdate } from "../core/mod.ts";
import { allocateOutput, updateOutputs, valuesOf } from "./pool.ts";

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** softplus(u) = log(1 + eᵘ), written so that it neither overflows nor loses small values. */
function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

/** See ffLossAndGradient in lib/core/goodness.ts. */
function ffLossGradKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const z = inputs.z as tf.TensorInfo;
  const { numPositive, threshold, kind, peer } = attrs as {
    numPositive: number;
    threshold: number;
    kind: string;
    peer: number;
  };
  const [rows, width] = z.shape;
  const values = valuesOf(cpu, z);
  const h = allocateOutput(backend, rows * width);
  const dz = allocateOutput(backend, rows * width);
  const goodnessOf = kind === "sum" ? 1 : 1 / width;
  // ∂g/∂h = 2h/width or 2h; the 1/rows is the loss's mean.
  const gradientScale = (kind === "sum" ? 2 : 2 / width) / rows;
  // First pass: h, each row's goodness, and (for peer normalisation) the positive rows' column
  // sums. relu(v) = (v + |v|)/2 exactly, with no branch: activations are positive about half the
  // time at random, and mispredicted branches made these loops 4x slower.
  const rowScale = new Float64Array(rows);
  const columnSums = new Float64Array(width);
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    let sumSquares = 0;
    for (let i = start; i < start + width; i++) {
      const hi = (values[i] + Math.abs(values[i])) * 0.5;
      h[i] = hi;
      sumSquares += hi * hi;
    }
    if (peer > 0 && r < numPositive) {
      for (let j = 0; j < width; j++) columnSums[j] += h[start + j];
    }
    const sign = r < numPositive ? -1 : 1;
    const u = sign * (sumSquares * goodnessOf - threshold);
    lossSum += softplus(u);
    rowScale[r] = (sign / (1 + Math.exp(-u))) * gradientScale;
  }
  const outputs = [
    cpu.makeTensorInfo([], "float32", new Float32Array([lossSum / rows])),
    cpu.makeTensorInfo([rows, width], "float32", dz),
    cpu.makeTensorInfo([rows, width], "float32", h),
  ];
  // Peer normalisation: m' = 0.9m + 0.1·mean(h) over positive rows, and every positive row's
  // gradient gets λ(m' - mean(m')) / numPositive.
  const pull = new Float64Array(width);
  if (peer > 0) {
    const m = valuesOf(cpu, inputs.meanActivity as tf.TensorInfo);
    const m1 = new Float32Array(width);
    for (let j = 0; j < width; j++) m1[j] = 0.9 * m[j] + 0.1 * (columnSums[j] / numPositive);
    let mean = 0;
    for (let j = 0; j < width; j++) mean += m1[j];
    mean /= width;
    for (let j = 0; j < width; j++) pull[j] = (peer / numPositive) * (m1[j] - mean);
    outputs.push(cpu.makeTensorInfo([width], "float32", m1));
  }
  // Second pass: the gradient, one scale per row times h, plus the pull on positive rows.
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    const scale = rowScale[r];
    if (peer > 0 && r < numPositive) {
      for (let j = 0; j < width; j++) dz[start + j] = scale * h[start + j] + pull[j];
    } else {
      for (let j = 0; j < width; j++) dz[start + j] = scale * h[start + j];
    }
  }
  return outputs;
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

/** See adamUpdate in lib/core/optim.ts. */
function adamUpdateKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const [p, m, v, g] = ["p", "m", "v", "g"].map((name) =>
    valuesOf(cpu, inputs[name] as tf.TensorInfo)
  );
  const { learningRate, beta1, beta2, epsilon, step, overwrite } = attrs as Record<string, number>;
  const stepSize = learningRate / (1 - beta1 ** step);
  const rootCorrection = Math.sqrt(1 - beta2 ** step);
  const infos = ["p", "m", "v"].map((name) => inputs[name] as tf.TensorInfo);
  const out = updateOutputs(cpu, infos, Boolean(overwrite));
  const [p1, m1, v1] = out.arrays;
  for (let i = 0; i < p.length; i++) {
    const mi = beta1 * m[i] + (1 - beta1) * g[i];
    const vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    m1[i] = mi;
    v1[i] = vi;
    p1[i] = p[i] -
      stepSize * Math.fround(mi) / (Math.sqrt(Math.fround(vi)) / rootCorrection + epsilon);
  }
  return out.infos();
}

/** See sgdUpdate in lib/core/optim.ts. */
function sgdUpdateKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const [p, v, g] = ["p", "v", "g"].map((name) => valuesOf(cpu, inputs[name] as tf.TensorInfo));
  const { learningRate, momentum, weightDecay, overwrite } = attrs as Record<string, number>;
  const infos = ["p", "v"].map((name) => inputs[name] as tf.TensorInfo);
  const out = updateOutputs(cpu, infos, Boolean(overwrite));
  const [p1, v1] = out.arrays;
  for (let i = 0; i < p.length; i++) {
    // Into locals first: p1 and v1 may be p's and v's own memory.
    const vi = Math.fround(momentum * v[i] + (1 - momentum) * g[i]);
    v1[i] = vi;
    p1[i] = p[i] - learningRate * (vi + weightDecay * p[i]);
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
