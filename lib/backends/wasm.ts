/**
 * The wasm backend (`@tensorflow/tfjs-backend-wasm`, SIMD, one thread) with three of its matrix
 * product's shortcomings in tfjs 4.22 worked around, so that the core can call tf.matMul and
 * tf.fused.matMul as on any backend:
 *
 * - with `transposeB` and a bias, its fused product returns wrong numbers;
 * - its fused product takes only a rank-1 bias;
 * - it multiplies by a transposed operand slowly.
 *
 * Each workaround transposes explicitly or splits the fused op into its parts, with wasm's own
 * kernels. Imported on demand: importing the package registers a backend that needs an
 * asynchronous start, which would break a library used before `setBackend`.
 *
 * @module
 */
import { OPTIONAL, tf } from "../deps.ts";

let wrapped = false;

/** Imports and sets up the wasm backend (idempotent); `setBackend("wasm")` then starts it. */
export async function registerWasmBackend(): Promise<void> {
  const wasm = await import(OPTIONAL.wasm);
  // The .wasm binaries sit beside the package's main file in Deno's npm cache.
  const binaries = new URL(".", import.meta.resolve(OPTIONAL.wasm));
  // Asked before tfjs reads them: denied, its Emscripten loader prints six lines of "Aborted(...)"
  // and tfjs says only that the backend failed to start.
  if (binaries.protocol === "file:" && !readable(binaries)) {
    throw new Error(
      `backend "wasm" reads its .wasm files from ${binaries.pathname}: run deno with ` +
        `--allow-read (or --allow-ffi too, for the faster "blas")`,
    );
  }
  wasm.setWasmPaths(binaries.href);
  if (wrapped) return;
  wrapped = true;
  wrap(tf.BatchMatMul, (original) => (args) => withPlainOperands(args, original));
  wrap(tf._FusedMatMul, (original) => (args) => fusedMatMul(args, original));
}

/** Whether `path` may be read: granted, or granted now at Deno's prompt. */
function readable(path: URL): boolean {
  const descriptor = { name: "read", path } as const;
  const { state } = Deno.permissions.querySync(descriptor);
  return state === "granted" ||
    (state === "prompt" && Deno.permissions.requestSync(descriptor).state === "granted");
}

/** Replaces wasm's kernel `name` by `make(original)`, keeping its setup (which binds the wasm). */
function wrap(name: string, make: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const original = tf.getKernel(name, "wasm");
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ ...original, kernelFunc: make(original.kernelFunc) });
}

function kernel(name: string): tf.KernelFunc {
  return tf.getKernel(name, "wasm").kernelFunc;
}

type Args = Parameters<tf.KernelFunc>[0];

/** `info` with its last two axes swapped, made by wasm's Transpose. */
function transposed(info: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo {
  const perm = info.shape.map((_, i) => i);
  perm.splice(-2, 2, perm.length - 1, perm.length - 2);
  return kernel(tf.Transpose)({ inputs: { x: info }, backend, attrs: { perm } }) as tf.TensorInfo;
}

/** Calls `original` with a and b transposed beforehand where the attrs ask for it. */
function withPlainOperands(args: Args, original: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as tf.KernelBackend;
  const inputs = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
  const made: tf.TensorInfo[] = [];
  const a = attrs.transposeA ? transposed(inputs.a, backend) : inputs.a;
  const b = attrs.transposeB ? transposed(inputs.b, backend) : inputs.b;
  if (a !== inputs.a) made.push(a);
  if (b !== inputs.b) made.push(b);
  try {
    return original({
      inputs: { ...inputs, a, b },
      backend,
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
  } finally {
    for (const info of made) backend.disposeData(info.dataId);
  }
}

/** The fused product, split into product, bias and activation where wasm cannot fuse them. */
function fusedMatMul(args: Args, original: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as tf.KernelBackend;
  const bias = args.inputs.bias as tf.TensorInfo | undefined;
  if (bias === undefined || bias.shape.length === 1) return withPlainOperands(args, original);
  const { activation = "linear" } = args.attrs as { activation?: string };
  const noBias = { ...args, inputs: { a: args.inputs.a, b: args.inputs.b } };
  const product = withPlainOperands(
    { ...noBias, attrs: { ...args.attrs, activation: "linear" } },
    original,
  );
  const sum = kernel(tf.Add)({ inputs: { a: product, b: bias }, backend }) as tf.TensorInfo;
  backend.disposeData(product.dataId);
  if (activation === "linear") return sum;
  const names: Record<string, string> = {
    relu: tf.Relu,
    relu6: tf.Relu6,
    sigmoid: tf.Sigmoid,
    elu: tf.Elu,
  };
  if (!(activation in names)) {
    backend.disposeData(sum.dataId);
    throw new Error(
      `fused matMul with a rank-2 bias: activation "${activation}" is not supported on wasm`,
    );
  }
  const out = kernel(names[activation])({ inputs: { x: sum }, backend }) as tf.TensorInfo;
  backend.disposeData(sum.dataId);
  return out;
}
