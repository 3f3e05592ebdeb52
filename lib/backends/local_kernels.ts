/**
 * The locally connected layers' products (lib/core/local.ts) for the `blas` backend: each
 * location's patch copied out of the input rows by contiguous runs, then one `sgemm` per
 * location that writes its units' block of z in place (a row stride of the whole layer), and
 * the gradient's block read the same way. tfjs's own formula gathers and transposes through the
 * cpu backend's generic Gather and Transpose kernels, which cost more than the products
 * themselves (docs/performance.md, "Local receptive fields").
 *
 * @module
 */
import type { MathBackendCPU, tf } from "../deps.ts";
import { localAffine, localWeightGradient } from "../core/local.ts";
import { allocateOutput } from "./pool.ts";
import type { Sgemm } from "./sgemm.ts";

/** A contiguous run of a location's inputs: from `source` in the row to `target` in the patch. */
interface Run {
  source: number;
  target: number;
  length: number;
}

/** Each location's runs, worked out once per geometry (its patches array). */
const runsOf = new WeakMap<number[][], Run[][]>();

function runs(patches: number[][]): Run[][] {
  let found = runsOf.get(patches);
  if (found === undefined) {
    found = patches.map((inputs) => {
      const list: Run[] = [];
      inputs.forEach((input, target) => {
        const last = list[list.length - 1];
        if (last && last.source + last.length === input) last.length++;
        else list.push({ source: input, target, length: 1 });
      });
      return list;
    });
    runsOf.set(patches, found);
  }
  return found;
}

/** One buffer for the patches, reused: the kernels are synchronous. */
let scratch = new Float32Array(0);

/** Location l's patches of every row of x, [rows, inputs per unit], in `scratch`. */
function gather(x: Float32Array, rows: number, width: number, list: Run[], perUnit: number) {
  if (scratch.length < rows * perUnit) scratch = new Float32Array(rows * perUnit);
  const out = scratch;
  for (let r = 0; r < rows; r++) {
    const [from, to] = [r * width, r * perUnit];
    for (const { source, target, length } of list) {
      if (length >= 16) {
        out.set(x.subarray(from + source, from + source + length), to + target);
      } else {
        for (let i = 0; i < length; i++) out[to + target + i] = x[from + source + i];
      }
    }
  }
  return out.subarray(0, rows * perUnit);
}

function values(backend: MathBackendCPU, info: tf.TensorInfo): Float32Array {
  const stored = backend.data.get(info.dataId).values;
  return stored instanceof Float32Array ? stored : Float32Array.from(stored as ArrayLike<number>);
}

function affineKernel(sgemm: Sgemm): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const cpu = backend as MathBackendCPU;
    const { x, weight, bias } = inputs as Record<"x" | "weight" | "bias", tf.TensorInfo>;
    const { patches, channels, activation } = attrs as unknown as {
      patches: number[][];
      channels: number;
      activation: "relu" | "linear";
    };
    const [rows, width] = x.shape;
    const [out, perUnit] = weight.shape;
    const [xs, w, b] = [values(cpu, x), values(cpu, weight), values(cpu, bias)];
    const z = allocateOutput(cpu, rows * out);
    for (let r = 0; r < rows; r++) z.set(b, r * out);
    runs(patches).forEach((list, l) => {
      const block = l * channels;
      sgemm({
        a: gather(xs, rows, width, list, perUnit),
        b: w.subarray(block * perUnit, (block + channels) * perUnit),
        c: z.subarray(block),
        m: rows,
        n: channels,
        k: perUnit,
        transposeA: false,
        transposeB: true,
        beta: 1,
        ldc: out,
      });
    });
    if (activation === "relu") {
      // As ./blas.ts's fused products: branch-free, NaN kept (training must see it).
      for (let i = 0; i < z.length; i++) {
        z[i] = z[i] === -Infinity ? 0 : (z[i] + Math.abs(z[i])) * 0.5;
      }
    }
    return cpu.makeTensorInfo([rows, out], "float32", z);
  };
}

function weightGradientKernel(sgemm: Sgemm): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const cpu = backend as MathBackendCPU;
    const { dz, x } = inputs as Record<"dz" | "x", tf.TensorInfo>;
    const { patches, channels } = attrs as unknown as { patches: number[][]; channels: number };
    const [rows, width] = x.shape;
    const out = dz.shape[1];
    const perUnit = patches[0].length;
    const [d, xs] = [values(cpu, dz), values(cpu, x)];
    const grad = allocateOutput(cpu, out * perUnit);
    runs(patches).forEach((list, l) => {
      const block = l * channels;
      // [rows, C] block of dz (row stride: the layer's width), transposed, × [rows, K].
      sgemm({
        a: d.subarray(block),
        b: gather(xs, rows, width, list, perUnit),
        c: grad.subarray(block * perUnit, (block + channels) * perUnit),
        m: channels,
        n: perUnit,
        k: rows,
        transposeA: true,
        transposeB: false,
        beta: 0,
        lda: out,
      });
    });
    return cpu.makeTensorInfo([out, perUnit], "float32", grad);
  };
}

/** The kernels, by name, each made from OpenBLAS's sgemm. */
export const LOCAL_KERNELS: readonly [string, (sgemm: Sgemm) => tf.KernelFunc][] = [
  [localAffine.kernel.kernelName, affineKernel],
  [localWeightGradient.kernel.kernelName, weightGradientKernel],
];
