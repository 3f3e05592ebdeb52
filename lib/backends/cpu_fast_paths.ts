/**
 * Fast paths for the tfjs cpu kernels that the core's plain formulas call on every batch, for
 * the cpu and blas backends. Each handles the common float32 rank-≤2 case itself and hands every
 * other case to tfjs's own kernel; tests/backends_test.ts holds them equal to tfjs's on random
 * inputs.
 *
 * Why: tfjs's cpu backend computes a broadcasting binary op ([m, n] + [n], [m, 1] · [1, n]) with
 * index arithmetic and array copies per element (and a same-shape one with a modulo per element),
 * rows gathered by index one element at a time, a slice or a concatenation of columns ([n, 774] out
 * of [n, 784], as writing a label over the first pixels does) through generic buffers, a sum or
 * mean over rows by transposing first, a softmax in five kernels, and relu with Math.max, which V8
 * deoptimises on arrays that mix zeros and fractions: each 3-100x slower than a loop. At mini-batch
 * sizes they took most of a training step.
 *
 * @module
 */
import { type MathBackendCPU, tf } from "../deps.ts";
import { allocateOutput, valuesOf } from "./pool.ts";

type Args = Parameters<tf.KernelFunc>[0];

const BINARY = [tf.Add, tf.Sub, tf.Multiply, tf.RealDiv];

/** [rows, columns] of a shape of rank ≤ 2, right-aligned (a scalar is [1, 1]). */
function matrixShape(shape: number[]): [number, number] | undefined {
  if (shape.length > 2) return undefined;
  const padded = [1, 1, ...shape].slice(-2);
  return [padded[0], padded[1]];
}

/**
 * out[i, j] = a[i·aRow + j·aCol] op b[i·bRow + j·bCol], a stride being 0 along a broadcast axis.
 * One loop per op, not one loop calling an op function: V8 inlines each, not a shared call.
 */
function broadcastLoop(
  name: string,
  [m, n]: [number, number],
  va: Float32Array,
  [aRow, aCol]: [number, number],
  vb: Float32Array,
  [bRow, bCol]: [number, number],
  out: Float32Array,
): void {
  for (let i = 0; i < m; i++) {
    const [ai, bi, oi] = [i * aRow, i * bRow, i * n];
    if (name === tf.Add) {
      for (let j = 0; j < n; j++) out[oi + j] = va[ai + j * aCol] + vb[bi + j * bCol];
    } else if (name === tf.Sub) {
      for (let j = 0; j < n; j++) out[oi + j] = va[ai + j * aCol] - vb[bi + j * bCol];
    } else if (name === tf.Multiply) {
      for (let j = 0; j < n; j++) out[oi + j] = va[ai + j * aCol] * vb[bi + j * bCol];
    } else for (let j = 0; j < n; j++) out[oi + j] = va[ai + j * aCol] / vb[bi + j * bCol];
  }
}

function binaryBroadcast(name: string, original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const [sa, sb] = [matrixShape(a.shape), matrixShape(b.shape)];
    if (a.dtype !== "float32" || b.dtype !== "float32" || !sa || !sb) return original(args);
    const [m, n] = [Math.max(sa[0], sb[0]), Math.max(sa[1], sb[1])];
    const fits = (s: [number, number]) => (s[0] === m || s[0] === 1) && (s[1] === n || s[1] === 1);
    if (!fits(sa) || !fits(sb)) return original(args);
    const [va, vb] = [valuesOf(backend, a), valuesOf(backend, b)];
    const [aRow, aCol] = [sa[0] === 1 ? 0 : sa[1], sa[1] === 1 ? 0 : 1];
    const [bRow, bCol] = [sb[0] === 1 ? 0 : sb[1], sb[1] === 1 ? 0 : 1];
    const out = allocateOutput(backend, m * n);
    broadcastLoop(name, [m, n], va, [aRow, aCol], vb, [bRow, bCol], out);
    const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    return backend.makeTensorInfo(shape, "float32", out);
  };
}

/** A block of columns (or any rank-2 window) copied row by row. */
function slice(original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number[]; size: number[] };
    if (x.dtype !== "float32" || x.shape.length !== 2) return original(args);
    const backend = args.backend as MathBackendCPU;
    const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
    // A window of whole rows is contiguous, and tfjs's kernel shares the memory: keep that.
    if (tf.slice_util.isSliceContinous(x.shape, b, s)) return original(args);
    const [rows, columns] = s;
    const width = x.shape[1];
    const source = valuesOf(backend, x);
    const out = allocateOutput(backend, rows * columns);
    for (let r = 0; r < rows; r++) {
      const from = (b[0] + r) * width + b[1];
      out.set(source.subarray(from, from + columns), r * columns);
    }
    return backend.makeTensorInfo(s, "float32", out);
  };
}

/**
 * Rows of a matrix picked by index (a batch out of a dataset's states): one copy per row, where
 * tfjs's kernel works out every element's position (40 times slower: a notebook's 6,000 batches of
 * 100 rows of 1000 took minutes).
 */
function gatherRows(original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (
      x.dtype !== "float32" || x.shape.length !== 2 || indices.shape.length !== 1 ||
      (axis !== 0 && axis !== -2) || batchDims !== 0
    ) {
      return original(args);
    }
    const backend = args.backend as MathBackendCPU;
    const [rows, width] = x.shape;
    const picked = backend.data.get(indices.dataId).values as ArrayLike<number>;
    // Out-of-range indices: tfjs's kernel says so in its own words.
    for (let i = 0; i < picked.length; i++) {
      if (!(picked[i] >= 0 && picked[i] < rows)) return original(args);
    }
    const source = valuesOf(backend, x);
    const out = allocateOutput(backend, picked.length * width);
    for (let i = 0; i < picked.length; i++) {
      out.set(source.subarray(picked[i] * width, (picked[i] + 1) * width), i * width);
    }
    return backend.makeTensorInfo([picked.length, width], "float32", out);
  };
}

/** Sum or mean over the rows of a matrix, without transposing it first. */
function overRows(mean: boolean, original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as {
      axis: number | number[];
      keepDims: boolean;
    };
    const axes = [axis].flat().map((a) => (a < 0 ? a + x.shape.length : a));
    if (x.dtype !== "float32" || x.shape.length !== 2 || axes.length !== 1 || axes[0] !== 0) {
      return original(args);
    }
    const backend = args.backend as MathBackendCPU;
    const [m, n] = x.shape;
    const source = valuesOf(backend, x);
    const sums = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      const row = i * n;
      for (let j = 0; j < n; j++) sums[j] += source[row + j];
    }
    const out = Float32Array.from(sums, (v) => (mean ? v / m : v));
    return backend.makeTensorInfo(keepDims ? [1, n] : [n], "float32", out);
  };
}

/**
 * Matrices stacked (axis 0: one block of rows after another) or side by side (axis 1: each
 * output row is the inputs' rows one after another), into a pooled buffer.
 */
function concat2d(original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const axis = (args.attrs as unknown as { axis: number }).axis;
    const [a] = inputs;
    const side = axis === 1 || axis === -1;
    const fits = inputs.every((t) =>
      t.shape.length === 2 && t.dtype === "float32" &&
      (side ? t.shape[0] === a.shape[0] : t.shape[1] === a.shape[1])
    );
    if (!fits || !(side || axis === 0 || axis === -2)) return original(args);
    const backend = args.backend as MathBackendCPU;
    const rows = side ? a.shape[0] : inputs.reduce((sum, t) => sum + t.shape[0], 0);
    const width = side ? inputs.reduce((sum, t) => sum + t.shape[1], 0) : a.shape[1];
    const out = allocateOutput(backend, rows * width);
    let offset = 0;
    for (const input of inputs) {
      const source = valuesOf(backend, input);
      if (!side) {
        out.set(source, offset);
        offset += source.length;
        continue;
      }
      const columns = input.shape[1];
      for (let r = 0; r < rows; r++) {
        out.set(source.subarray(r * columns, (r + 1) * columns), r * width + offset);
      }
      offset += columns;
    }
    return backend.makeTensorInfo([rows, width], "float32", out);
  };
}

/** relu(v) = (v + |v|) / 2 exactly, with no branch on the sign (random, so mispredicted). */
function relu(original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== "float32") return original(args);
    const backend = args.backend as MathBackendCPU;
    const source = valuesOf(backend, x);
    const out = allocateOutput(backend, source.length);
    // -Infinity, where the formula gives NaN, is the one exception; its test is never taken.
    for (let i = 0; i < source.length; i++) {
      out[i] = source[i] === -Infinity ? 0 : (source[i] + Math.abs(source[i])) * 0.5;
    }
    return backend.makeTensorInfo(x.shape, "float32", out);
  };
}

/**
 * Softmax along the rows of a float32 matrix: tfjs's own steps (subtract the row's maximum,
 * exp, sum the row, divide), each rounded to float32 as tfjs's kernels store it, so the same
 * bits, in one loop per row instead of five kernels with their allocations.
 */
function softmax(original: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { logits } = args.inputs as { logits: tf.TensorInfo };
    const { dim } = args.attrs as unknown as { dim: number };
    if (logits.dtype !== "float32" || logits.shape.length !== 2 || !(dim === -1 || dim === 1)) {
      return original(args);
    }
    const backend = args.backend as MathBackendCPU;
    const [rows, n] = logits.shape;
    const x = valuesOf(backend, logits);
    const out = allocateOutput(backend, rows * n);
    for (let r = 0; r < rows; r++) {
      const start = r * n;
      let max = x[start];
      for (let j = start; j < start + n; j++) {
        if (Number.isNaN(x[j]) || x[j] > max) max = x[j]; // a NaN wins, as in tfjs's max
      }
      let sum = 0;
      for (let j = start; j < start + n; j++) {
        out[j] = Math.exp(Math.fround(x[j] - max));
        sum += out[j];
      }
      const total = Math.fround(sum);
      for (let j = start; j < start + n; j++) out[j] = out[j] / total;
    }
    return backend.makeTensorInfo([rows, n], "float32", out);
  };
}

/**
 * The fast paths for a backend built on tfjs's cpu kernels, as [kernel name, function], each
 * wrapping that backend's current kernel of the same name.
 */
export function cpuFastPaths(backendName: string): [string, tf.KernelFunc][] {
  const original = (name: string) => tf.getKernel(name, backendName).kernelFunc;
  return [
    ...BINARY.map((name): [string, tf.KernelFunc] => [
      name,
      binaryBroadcast(name, original(name)),
    ]),
    [tf.Slice, slice(original(tf.Slice))],
    [tf.Concat, concat2d(original(tf.Concat))],
    [tf.GatherV2, gatherRows(original(tf.GatherV2))],
    [tf.Relu, relu(original(tf.Relu))],
    [tf.Softmax, softmax(original(tf.Softmax))],
    [tf.Sum, overRows(false, original(tf.Sum))],
    [tf.Mean, overRows(true, original(tf.Mean))],
  ];
}
