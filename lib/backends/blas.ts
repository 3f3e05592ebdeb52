/**
 * A TensorFlow.js backend named `"blas"`: tfjs's `cpu` backend with every matrix product
 * (`BatchMatMul`, `_FusedMatMul`, the column sums of `Sum`) done by OpenBLAS's `cblas_sgemm`
 * through Deno FFI, and the SGD update by its `saxpy` and `sscal`.
 *
 * Why hand-written: tfjs's only BLAS binding is tfjs-node (libtensorflow), which cannot be
 * installed here, and the cpu backend multiplies matrices in plain JavaScript loops, 100x
 * slower than OpenBLAS. All other kernels are the cpu backend's, unchanged.
 *
 * Needs `--allow-ffi`; `--allow-env` to honour `FF_OPENBLAS`. OpenBLAS picks its kernels for
 * the CPU it runs on, unless env `OPENBLAS_CORETYPE` forces some (e.g. `Haswell`: AVX2 only, a
 * third of AVX-512's speed where the CPU has it).
 *
 * @example Use OpenBLAS when it is installed, else stay on the cpu backend
 * ```ts
 * import { tf } from "../deps.ts";
 * import { registerBlasBackend } from "./blas.ts";
 *
 * const blas = registerBlasBackend();
 * if (blas.ok) await tf.setBackend("blas");
 * else console.warn(blas.reason); // says how to install OpenBLAS
 * ```
 *
 * @module
 */
import { type MathBackendCPU, tf } from "../deps.ts";
import { readEnv } from "../env.ts";
import { sgdUpdate } from "../core/optim.ts";
import { allocateOutput, PooledCPUBackend, updateOutputs } from "./pool.ts";
import { LOCAL_KERNELS } from "./local_kernels.ts";
import type { Sgemm } from "./sgemm.ts";

/** The name the backend registers under, for `tf.setBackend`. */
export const BLAS_BACKEND = "blas";

/** The kernels this backend computes by OpenBLAS beyond matrix products: keep them over others. */
export const BLAS_OWN_KERNELS: ReadonlySet<string> = new Set([tf.Sum, sgdUpdate.kernelName]);

/** Above cpu's (1): where OpenBLAS loads, it is what tfjs uses until told otherwise. */
const BLAS_PRIORITY = 3;

const INSTALL_HINT =
  "install OpenBLAS with `apt-get install libopenblas0-pthread` (Debian/Ubuntu)" +
  " or `brew install openblas` (macOS), or set FF_OPENBLAS to the path of libopenblas";

// CBLAS enum values (cblas.h).
const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    // deno-fmt-ignore
    parameters: [
      "i32", "i32", "i32", // order, transA, transB
      "i32", "i32", "i32", // M, N, K
      "f32", "buffer", "i32", // alpha, A, lda
      "buffer", "i32", // B, ldb
      "f32", "buffer", "i32", // beta, C, ldc
    ],
    result: "void",
  },
  cblas_saxpy: { parameters: ["i32", "f32", "buffer", "i32", "buffer", "i32"], result: "void" },
  cblas_sscal: { parameters: ["i32", "f32", "buffer", "i32"], result: "void" },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

export type { Sgemm, SgemmArgs } from "./sgemm.ts";

/**
 * Which OpenBLAS runs the products, and how. A seeded run repeats to the bit only where these
 * are the same: another build, other kernels (named in `config`) or another thread count each
 * round the products differently.
 */
export interface BlasInfo {
  /** The path or name it was loaded from. */
  library: string;
  /** `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... SkylakeX MAX_THREADS=64". */
  config: string;
  /**
   * `openblas_get_num_threads()`: the CPUs OpenBLAS sees, or env `OPENBLAS_NUM_THREADS` if
   * fewer; absent for a library without the call.
   */
  threads?: number;
}

/** A loaded OpenBLAS. */
export interface BlasLibrary extends BlasInfo {
  ok: true;
  sgemm: Sgemm;
  /** y ← αx + y, in place. */
  axpy(alpha: number, x: Float32Array, y: Float32Array): void;
  /** x ← αx, in place. */
  scal(alpha: number, x: Float32Array): void;
  /** Unloads the library; `sgemm` must not be called afterwards. */
  close(): void;
}

/** Why no OpenBLAS could be loaded, and how to install one. */
export interface BlasMissing {
  ok: false;
  reason: string;
}

/**
 * Where to look for OpenBLAS: the library env `FF_OPENBLAS` names, alone (one asked for by name
 * is never swapped for another), else the usual system locations, in order.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { blasLibraryCandidates } from "./blas.ts";
 * assert(blasLibraryCandidates().some((name) => name.includes("libopenblas")));
 * ```
 */
export function blasLibraryCandidates(): string[] {
  const fromEnv = readEnv("FF_OPENBLAS");
  const debian = `/usr/lib/${Deno.build.arch}-linux-gnu`;
  const system = Deno.build.os === "darwin"
    ? [
      "libopenblas.dylib",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
    ]
    : [
      "libopenblas.so.0",
      `${debian}/openblas-pthread/libopenblas.so.0`,
      `${debian}/openblas-openmp/libopenblas.so.0`,
      `${debian}/libopenblas.so.0`,
      "libopenblas.so",
    ];
  return fromEnv ? [fromEnv] : system;
}

/**
 * Loads the first of `candidates` (paths or library names) that has `cblas_sgemm`. Never
 * throws: a missing library gives a reason that says how to install one.
 *
 * @example
 * ```ts
 * import { assert, assertStringIncludes } from "@std/assert";
 * import { findBlasLibrary } from "./blas.ts";
 * const blas = findBlasLibrary(["/nonexistent.so"]);
 * assert(!blas.ok);
 * assertStringIncludes(blas.reason, "install OpenBLAS");
 * ```
 */
export function findBlasLibrary(candidates: readonly string[]): BlasLibrary | BlasMissing {
  if (!granted({ name: "ffi" })) {
    return { ok: false, reason: "OpenBLAS is loaded through FFI: run deno with --allow-ffi" };
  }
  const failures: string[] = [];
  for (const library of candidates) {
    try {
      return loaded(library, Deno.dlopen(library, SYMBOLS));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // "No such file" is the expected miss; anything else (e.g. no cblas_sgemm) is news.
      if (!message.includes("No such file")) failures.push(message);
    }
  }
  const tried = `no OpenBLAS found (tried ${candidates.join(", ")})`;
  return { ok: false, reason: [tried, ...failures, INSTALL_HINT].join("; ") };
}

let registered: BlasLibrary | undefined;

/**
 * Registers the `"blas"` backend (idempotent). Never throws: when OpenBLAS is missing it
 * returns a reason that says how to install it, and registers nothing.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "../deps.ts";
 * import { registerBlasBackend } from "./blas.ts";
 *
 * if (registerBlasBackend().ok) {
 *   await tf.setBackend("blas");
 *   const product = tf.matMul(tf.ones([2, 3]), tf.ones([3, 4])) as tf.Tensor2D;
 *   assertEquals(product.arraySync()[0], [3, 3, 3, 3]);
 * }
 * ```
 */
export function registerBlasBackend(): ({ ok: true } & BlasInfo) | BlasMissing {
  if (registered) return { ok: true, ...blasLibrary()! };
  // Importing tfjs-backend-cpu (lib/deps.ts does) registers its kernels; without them there
  // is nothing to copy.
  const cpuKernels = tf.getKernelsForBackend("cpu");
  const cpuBatchMatMul = tf.getKernel(tf.BatchMatMul, "cpu")?.kernelFunc;
  const cpuFusedMatMul = tf.getKernel(tf._FusedMatMul, "cpu")?.kernelFunc;
  if (cpuBatchMatMul === undefined || cpuFusedMatMul === undefined) {
    return {
      ok: false,
      reason: "tfjs's cpu kernels are not registered: import @tensorflow/tfjs-backend-cpu",
    };
  }
  const found = findBlasLibrary(blasLibraryCandidates());
  if (!found.ok) return namedByEnv(found);

  for (const kernel of cpuKernels) replaceKernel({ ...kernel, backendName: BLAS_BACKEND });
  replaceKernel({
    kernelName: tf.BatchMatMul,
    backendName: BLAS_BACKEND,
    kernelFunc: batchMatMulKernel(found.sgemm, cpuBatchMatMul),
  });
  replaceKernel({
    kernelName: tf._FusedMatMul,
    backendName: BLAS_BACKEND,
    kernelFunc: fusedMatMulKernel(found.sgemm, cpuFusedMatMul),
  });
  replaceKernel({
    kernelName: tf.Sum,
    backendName: BLAS_BACKEND,
    kernelFunc: columnSumKernel(found.sgemm, tf.getKernel(tf.Sum, "cpu").kernelFunc),
  });
  for (const [kernelName, make] of LOCAL_KERNELS) {
    replaceKernel({ kernelName, backendName: BLAS_BACKEND, kernelFunc: make(found.sgemm) });
  }
  replaceKernel({
    kernelName: sgdUpdate.kernelName,
    backendName: BLAS_BACKEND,
    kernelFunc: sgdUpdateKernel(found),
  });
  if (tf.engine().findBackendFactory(BLAS_BACKEND) == null) {
    tf.registerBackend(BLAS_BACKEND, () => new PooledCPUBackend(), BLAS_PRIORITY);
  }
  registered = found;
  return { ok: true, ...blasLibrary()! };
}

/**
 * The OpenBLAS the `"blas"` backend uses, once {@linkcode registerBlasBackend} succeeded.
 *
 * @example
 * ```ts
 * import { blasLibrary, registerBlasBackend } from "./blas.ts";
 * registerBlasBackend();
 * console.log(blasLibrary() ?? "no OpenBLAS");
 * // e.g. { library: "libopenblas.so.0", config: "OpenBLAS 0.3.21 ... Haswell ...", threads: 2 }
 * ```
 */
export function blasLibrary(): BlasInfo | undefined {
  if (!registered) return undefined;
  const { library, config, threads } = registered;
  return { library, config, ...threads !== undefined && { threads } };
}

/**
 * {@linkcode blasLibrary} while `"blas"` is the active backend, else undefined: what a run's
 * products are computed with, for its records.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "../deps.ts";
 * import { blasInUse } from "./blas.ts";
 * await tf.setBackend("cpu");
 * assertEquals(blasInUse(), undefined); // the cpu backend multiplies in JavaScript
 * ```
 */
export function blasInUse(): BlasInfo | undefined {
  return tf.getBackend() === BLAS_BACKEND ? blasLibrary() : undefined;
}

/** The kernels and thread count, in one line: "OpenBLAS 0.3.21 ... Haswell ..., threads: 2". */
export function describeBlas({ config, threads }: BlasInfo): string {
  return `${config}, threads: ${threads ?? "?"}`;
}

/** `missing`, said in terms of `FF_OPENBLAS` where that variable named the library. */
function namedByEnv(missing: BlasMissing): BlasMissing {
  const named = readEnv("FF_OPENBLAS");
  if (named === undefined || !granted({ name: "ffi" })) return missing;
  let what = "is not an OpenBLAS that loads";
  try {
    if (granted({ name: "read", path: named })) Deno.statSync(named);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) what = "does not exist";
  }
  return {
    ok: false,
    reason: `FF_OPENBLAS names ${named}, which ${what}: correct the path, or unset FF_OPENBLAS ` +
      `to use the system's OpenBLAS`,
  };
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

function loaded(
  library: string,
  dylib: Deno.DynamicLibrary<typeof SYMBOLS>,
): BlasLibrary {
  const { cblas_sgemm, cblas_saxpy, cblas_sscal, openblas_get_config, openblas_get_num_threads } =
    dylib.symbols;
  const configPointer = openblas_get_config?.() ?? null;
  const config = configPointer === null ? "" : Deno.UnsafePointerView.getCString(configPointer);
  const threads = openblas_get_num_threads?.();
  const sgemm: Sgemm = ({ a, b, c, m, n, k, transposeA, transposeB, beta, lda, ldb, ldc }) => {
    cblas_sgemm(
      CBLAS_ROW_MAJOR,
      transposeA ? CBLAS_TRANS : CBLAS_NO_TRANS,
      transposeB ? CBLAS_TRANS : CBLAS_NO_TRANS,
      m,
      n,
      k,
      1,
      a,
      lda ?? (transposeA ? m : k),
      b,
      ldb ?? (transposeB ? k : n),
      beta,
      c,
      ldc ?? n,
    );
  };
  return {
    ok: true,
    library,
    config,
    ...threads !== undefined && { threads },
    sgemm,
    axpy: (alpha, x, y) => cblas_saxpy(x.length, alpha, x, 1, y, 1),
    scal: (alpha, x) => cblas_sscal(x.length, alpha, x, 1),
    close: () => dylib.close(),
  };
}

/** Registers `config`, first dropping a kernel of the same name (no duplicate warning). */
function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName) !== undefined) {
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
}

/** A tensor's values on the cpu-family backend, with its shape. */
interface Operand {
  shape: number[];
  values: Float32Array;
}

function operand(backend: MathBackendCPU, info: tf.TensorInfo): Operand {
  return { shape: info.shape, values: float32Values(backend, info) };
}

/** The values FFI can pass as a `float*`: float32 tensors are (almost) always stored so. */
function float32Values(backend: MathBackendCPU, info: tf.TensorInfo): Float32Array {
  const values = backend.data.get(info.dataId).values;
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

/**
 * `a·b` for every matrix in the (broadcast) batch, as tfjs's BatchMatMul: the last two axes are
 * the matrices, the leading ones the batch. With `bias` (one row of length n, or the whole
 * output) the output starts as the bias and sgemm adds the product to it (beta = 1).
 */
function batchedProduct(
  backend: MathBackendCPU,
  sgemm: Sgemm,
  a: Operand,
  b: Operand,
  transposeA: boolean,
  transposeB: boolean,
  bias?: Float32Array,
): Operand {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new Error(
      `matMul needs matrices (rank >= 2), got shapes [${a.shape}] and [${b.shape}]: reshape them`,
    );
  }
  const [m, k] = matrixSize(a.shape, transposeA);
  const [kB, n] = matrixSize(b.shape, transposeB);
  if (k !== kB) {
    throw new Error(
      `matMul inner sizes differ (${k} vs ${kB}) for shapes [${a.shape}] and [${b.shape}] ` +
        `with transposeA=${transposeA}, transposeB=${transposeB}: fix the shapes or transposes`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  const batches = tf.util.sizeFromShape(batchShape);
  const c = allocateOutput(backend, batches * m * n);
  if (bias !== undefined && bias.length === c.length) {
    c.set(bias);
  } else if (bias !== undefined) {
    for (let row = 0; row < batches * m; row++) c.set(bias, row * n);
  } else if (m * n * k === 0) {
    c.fill(0); // a recycled buffer holds old values; sgemm below writes every one otherwise
  }
  if (m * n * k > 0) {
    for (let batch = 0; batch < batches; batch++) {
      const aStart = broadcastSource(batch, batchShape, batchA) * m * k;
      const bStart = broadcastSource(batch, batchShape, batchB) * k * n;
      sgemm({
        a: a.values.subarray(aStart, aStart + m * k),
        b: b.values.subarray(bStart, bStart + k * n),
        c: c.subarray(batch * m * n, (batch + 1) * m * n),
        m,
        n,
        k,
        transposeA,
        transposeB,
        beta: bias === undefined ? 0 : 1,
      });
    }
  }
  return { shape: [...batchShape, m, n], values: c };
}

/** [rows, columns] of the matrices in `shape` after the optional transpose. */
function matrixSize(shape: number[], transpose: boolean): [number, number] {
  const [rows, columns] = shape.slice(-2);
  return transpose ? [columns, rows] : [rows, columns];
}

/** The flat index of the batch in `sourceShape` that broadcasting maps output batch `index` to. */
function broadcastSource(index: number, outShape: number[], sourceShape: number[]): number {
  let source = 0;
  let stride = 1;
  for (let axis = outShape.length - 1; axis >= 0; axis--) {
    const coordinate = index % outShape[axis];
    index = Math.floor(index / outShape[axis]);
    const sourceAxis = axis - (outShape.length - sourceShape.length);
    if (sourceAxis < 0) break;
    if (sourceShape[sourceAxis] !== 1) source += coordinate * stride;
    stride *= sourceShape[sourceAxis];
  }
  return source;
}

/**
 * Sums over the rows of a matrix (∂loss/∂b = Σ rows of dz) as the product 1ᵀ·x: the cpu kernel
 * transposes the whole matrix first, ten times slower. Every other sum goes to the cpu kernel.
 */
function columnSumKernel(sgemm: Sgemm, cpuSum: tf.KernelFunc): tf.KernelFunc {
  let ones = new Float32Array(0);
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const axes = [axis].flat().map((a) => (a < 0 ? a + x.shape.length : a));
    if (x.dtype !== "float32" || x.shape.length !== 2 || axes.length !== 1 || axes[0] !== 0) {
      return cpuSum(args);
    }
    const backend = args.backend as MathBackendCPU;
    const [m, n] = x.shape;
    if (ones.length < m) ones = new Float32Array(m).fill(1);
    const c = new Float32Array(n);
    if (m > 0 && n > 0) {
      const a = ones.subarray(0, m);
      const b = float32Values(backend, x);
      sgemm({ a, b, c, m: 1, n, k: m, transposeA: false, transposeB: false, beta: 0 });
    }
    return backend.makeTensorInfo(keepDims ? [1, n] : [n], "float32", c);
  };
}

/**
 * sgdUpdate (lib/core/optim.ts) by OpenBLAS's vector operations, SIMD on both cores: the
 * JavaScript loop took 3 ms per million weights, a sixth of an epoch of Hinton's recipe.
 *   v ← μv + (1-μ)g,   p ← (1 - lr·λ)p - lr·v
 */
function sgdUpdateKernel(blas: BlasLibrary): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const cpu = backend as MathBackendCPU;
    const { p, v, g } = inputs as Record<"p" | "v" | "g", tf.TensorInfo>;
    const { learningRate, momentum, weightDecay, overwrite } = attrs as Record<string, number>;
    const out = updateOutputs(cpu, [p, v], Boolean(overwrite));
    // The vector operations work in place: start from the inputs' values where the outputs are
    // fresh buffers.
    const [p1, v1] = out.arrays;
    for (const [array, info] of [[p1, p], [v1, v]] as const) {
      const values = float32Values(cpu, info);
      if (array !== values) array.set(values);
    }
    blas.scal(momentum, v1);
    blas.axpy(1 - momentum, float32Values(cpu, g), v1);
    // No pass over a bias, which has no weight cost: scaling by 1 changes nothing.
    if (weightDecay !== 0) blas.scal(1 - learningRate * weightDecay, p1);
    blas.axpy(-learningRate, v1, p1);
    return out.infos();
  };
}

function batchMatMulKernel(sgemm: Sgemm, cpuBatchMatMul: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    // Integer products stay exact (and int32) on the cpu kernel.
    if (a.dtype !== "float32" || b.dtype !== "float32") return cpuBatchMatMul(args);
    const backend = args.backend as MathBackendCPU;
    const { shape, values } = batchedProduct(
      backend,
      sgemm,
      operand(backend, a),
      operand(backend, b),
      transposeA,
      transposeB,
    );
    return backend.makeTensorInfo(shape, "float32", values);
  };
}

function fusedMatMulKernel(sgemm: Sgemm, cpuFusedMatMul: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as unknown as tf._FusedMatMulInputs;
    const { transposeA, transposeB, activation = "linear", leakyreluAlpha = 0.2 } = args
      .attrs as unknown as tf._FusedMatMulAttrs;
    if (a.dtype !== "float32" || b.dtype !== "float32") return cpuFusedMatMul(args);
    const backend = args.backend as MathBackendCPU;
    const n = transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
    const outRank = Math.max(a.shape.length, b.shape.length);
    const m = transposeA ? a.shape[a.shape.length - 1] : a.shape[a.shape.length - 2];
    const batches = tf.util.sizeFromShape([...a.shape.slice(0, -2), ...b.shape.slice(0, -2)]);
    const sgemmBias = bias &&
      (row(backend, bias, n, outRank) ?? (batches === 1 ? whole(backend, bias, m, n) : undefined));
    const product = batchedProduct(
      backend,
      sgemm,
      operand(backend, a),
      operand(backend, b),
      transposeA,
      transposeB,
      sgemmBias,
    );
    let out = backend.makeTensorInfo(product.shape, "float32", product.values);
    if (bias && sgemmBias === undefined) {
      // A bias that varies along rows or batches: broadcast it with the cpu Add kernel.
      out = replacing(backend, out, kernel(tf.Add)({ inputs: { a: out, b: bias }, backend }));
    }
    const alphas = preluActivationWeights && row(backend, preluActivationWeights, n, outRank);
    if (activation === "prelu" && alphas === undefined) {
      // Alphas that vary along rows or batches: broadcast them with the cpu Prelu kernel.
      const inputs = { x: out, alpha: preluActivationWeights };
      return replacing(backend, out, kernel(tf.Prelu)({ inputs, backend }));
    }
    const values = float32Values(backend, out);
    activateInPlace(values, activation, leakyreluAlpha, alphas);
    return out;
  };
}

/**
 * `info`'s values as one row of length n when it broadcasts as a single row over the output
 * ([n], [1, n], a scalar, ...); undefined when it varies along rows or batches.
 */
function row(
  backend: MathBackendCPU,
  info: tf.TensorInfo,
  n: number,
  outRank: number,
): Float32Array | undefined {
  if (info.dtype !== "float32" || info.shape.length > outRank) return undefined;
  const values = float32Values(backend, info);
  if (values.length === 1) return new Float32Array(n).fill(values[0]);
  const isRow = values.length === n && info.shape[info.shape.length - 1] === n;
  return isRow ? values : undefined;
}

/**
 * `info`'s values when it is one [m, n] matrix (leading axes of size 1 allowed: tf.fused.matMul
 * makes every operand 3-D), to cover a single [m, n] output; else undefined.
 */
function whole(
  backend: MathBackendCPU,
  info: tf.TensorInfo,
  m: number,
  n: number,
): Float32Array | undefined {
  const shape = info.shape;
  const same = info.dtype === "float32" && shape.length >= 2 && shape.at(-2) === m &&
    shape.at(-1) === n && tf.util.sizeFromShape(shape) === m * n;
  return same ? float32Values(backend, info) : undefined;
}

/** Returns `next`, disposing `previous`, an intermediate result of this kernel. */
function replacing(
  backend: MathBackendCPU,
  previous: tf.TensorInfo,
  next: tf.TensorInfo | tf.TensorInfo[],
): tf.TensorInfo {
  backend.disposeIntermediateTensorInfo(previous);
  return next as tf.TensorInfo;
}

function kernel(name: string): tf.KernelFunc {
  return tf.getKernel(name, "cpu").kernelFunc;
}

/**
 * Applies `activation` as the cpu backend's kernels do (same results, NaN and -0 included),
 * overwriting `x`. One loop per activation, not one loop calling an activation function: once
 * several activations have run, V8 stops inlining that call and the loop gets 5-10x slower.
 * No Math.max either: on arrays that mix exact zeros and fractions (a relu's output) V8 (15.0)
 * deoptimizes it over and over, 1 s instead of 5 ms for 5M values.
 */
function activateInPlace(
  x: Float32Array,
  activation: string,
  leakyreluAlpha: number,
  preluAlphas?: Float32Array,
): void {
  switch (activation) {
    case "linear":
      return;
    case "relu":
      // (v + |v|) / 2 is relu(v) exactly with no branch on the sign, which is random: the branch
      // was mispredicted half the time (30 ms instead of 4 for 5M values). -Infinity, where
      // it gives NaN, is the one exception, and its test is never taken.
      for (let i = 0; i < x.length; i++) {
        x[i] = x[i] === -Infinity ? 0 : (x[i] + Math.abs(x[i])) * 0.5;
      }
      return;
    case "relu6":
      for (let i = 0; i < x.length; i++) x[i] = x[i] <= 0 ? 0 : x[i] > 6 ? 6 : x[i];
      return;
    case "elu":
      for (let i = 0; i < x.length; i++) x[i] = x[i] >= 0 ? x[i] : Math.exp(x[i]) - 1;
      return;
    case "sigmoid":
      for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
      return;
    case "leakyrelu":
      for (let i = 0; i < x.length; i++) x[i] = x[i] < 0 ? leakyreluAlpha * x[i] : x[i];
      return;
    case "prelu":
      if (preluAlphas !== undefined) {
        const n = preluAlphas.length;
        for (let i = 0; i < x.length; i++) x[i] = x[i] < 0 ? preluAlphas[i % n] * x[i] : x[i];
        return;
      }
  }
  throw new Error(
    `fused matMul: activation "${activation}" is not supported; use one of linear, relu, ` +
      "relu6, elu, leakyrelu, prelu, sigmoid",
  );
}
