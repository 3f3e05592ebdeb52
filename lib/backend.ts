/**
 * Choosing where tensors live. Everything in lib/ uses the one `tf` exported here, so the
 * CLI, the tests and the notebooks share a single TensorFlow.js and a single backend.
 *
 * Backends, fastest first on a CPU machine:
 * - `blas`: tfjs's cpu kernels with matrix products by the system's OpenBLAS (Deno FFI).
 * - `wasm`: tfjs's WebAssembly backend (SIMD, one thread); needs nothing installed.
 * - `cpu`: tfjs's plain JavaScript kernels; slowest, for checks.
 * - `tensorflow`: `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`, only if installed.
 * - `webgpu`: Deno's built-in WebGPU; read tensors with `await t.data()` only there.
 *
 * @module
 */
import { OPTIONAL, setWasmPaths, tf } from "./deps.ts";
import { registerBlasBackend } from "./blas.ts";
import { registerFusedKernels } from "./fused.ts";

export { tf };

/** The backends that {@linkcode setBackend} knows. */
export const BACKENDS = ["auto", "blas", "wasm", "cpu", "tensorflow", "webgpu"] as const;
/** A backend name, or `"auto"`: blas when OpenBLAS loads, else wasm. */
export type BackendName = typeof BACKENDS[number];

// Production mode: skips tfjs's debug checks, and its banner urging Node users to install
// tfjs-node, which is not what a Deno user needs to read.
tf.enableProdMode();

// The fused FF kernel reads Float32Arrays directly: only the JavaScript backends have them.
registerFusedKernels(["cpu", "blas"]);

async function register(name: Exclude<BackendName, "auto">): Promise<void> {
  if (name === "blas") {
    const result = registerBlasBackend();
    if (!result.ok) throw new Error(`backend "blas" is unavailable: ${result.reason}`);
  } else if (name === "wasm") {
    // The .wasm binaries sit beside the package's main file in Deno's npm cache.
    setWasmPaths(new URL(".", import.meta.resolve(OPTIONAL.wasm)).href);
  } else if (name === "tensorflow") {
    await importFirst(
      [OPTIONAL.tfjsNodeGpu, OPTIONAL.tfjsNode],
      "install it first (see README: Backends), or choose --backend blas or wasm",
    );
  } else if (name === "webgpu") {
    if (!("gpu" in navigator)) {
      throw new Error(`backend "webgpu" needs WebGPU: run Deno with --unstable-webgpu`);
    }
    await import(OPTIONAL.webgpu);
  }
}

async function importFirst(specifiers: string[], advice: string): Promise<void> {
  const failures: string[] = [];
  for (const specifier of specifiers) {
    try {
      await import(specifier);
      return;
    } catch (e) {
      failures.push(`${specifier}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(`backend "tensorflow" could not load (${failures.join("; ")}): ${advice}`);
}

/**
 * Makes `name` the active backend and returns the name actually in use.
 *
 * TensorFlow.js quietly falls back to another backend when one fails to start; this does not:
 * it throws a one-line error naming the backend and what to do instead.
 *
 * @param name a {@linkcode BackendName}; default: env `FF_BACKEND`, else `"auto"`
 *
 * @example
 * ```ts
 * const used = await setBackend("auto"); // "blas" where OpenBLAS is installed, else "wasm"
 * ```
 */
export async function setBackend(name: string = defaultBackendName()): Promise<string> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new Error(`unknown backend "${name}": choose one of ${BACKENDS.join(", ")}`);
  }
  if (name === "auto") {
    return await setBackend(registerBlasBackend().ok ? "blas" : "wasm");
  }
  await register(name as Exclude<BackendName, "auto">);
  let started = false;
  try {
    started = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    throw new Error(`backend "${name}" failed to start: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!started || tf.getBackend() !== name) {
    throw new Error(
      `backend "${name}" failed to start (tfjs would have used "${tf.getBackend()}"): choose another with --backend or FF_BACKEND`,
    );
  }
  return name;
}

function defaultBackendName(): string {
  try {
    return Deno.env.get("FF_BACKEND") ?? "auto";
  } catch {
    return "auto"; // no --allow-env: the default is fine
  }
}
