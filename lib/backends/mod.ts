/**
 * Where tensors live: the one door to the machinery. Everything in lib/ computes through one tf,
 * which the core owns; this module chooses its backend, and brings each backend's fast kernels
 * and workarounds with it, so that nothing outside this folder ever asks which backend runs.
 *
 * Backends, fastest first on a CPU machine:
 * - `blas`: tfjs's cpu kernels with matrix products by the system's OpenBLAS (Deno FFI).
 * - `wasm`: tfjs's WebAssembly backend (SIMD, one thread); needs nothing installed.
 * - `cpu`: tfjs's plain JavaScript kernels; slowest, for checks.
 * - `tensorflow`: `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`, only if installed.
 * - `webgpu`: tfjs's WebGPU backend on Deno's WebGPU, with the WGSL kernels of ./webgpu.ts.
 *
 * Importing this module already makes blas the default where OpenBLAS loads (else tfjs's cpu):
 * the library works on first use, and `setBackend` picks another.
 *
 * @module
 */
import { MathBackendCPU, OPTIONAL, tf } from "../deps.ts";
import { readEnv } from "../env.ts";
import { BLAS_OWN_KERNELS, registerBlasBackend } from "./blas.ts";
import { cpuFastPaths } from "./cpu_fast_paths.ts";
import { CPU_KERNELS } from "./cpu_kernels.ts";
import { registerWasmBackend } from "./wasm.ts";
import { WEBGPU_KERNELS } from "./webgpu.ts";

/** The backends that {@linkcode setBackend} knows. */
export const BACKENDS = ["auto", "blas", "wasm", "cpu", "tensorflow", "webgpu"] as const;
/** A backend name, or `"auto"`: blas when OpenBLAS loads, else wasm. */
export type BackendName = typeof BACKENDS[number];

// Production mode: skips tfjs's debug checks, and its banner urging Node users to install
// tfjs-node, which is not what a Deno user needs to read.
tf.enableProdMode();

const withCpuKernels = new Set<string>();

/**
 * Gives a backend built on tfjs's cpu kernels the fused kernels of ./cpu_kernels.ts and the fast
 * paths of ./cpu_fast_paths.ts (once).
 */
function registerCpuKernels(backendName: string): void {
  if (withCpuKernels.has(backendName)) return;
  withCpuKernels.add(backendName);
  const kernels = [...CPU_KERNELS, ...cpuFastPaths(backendName)];
  for (const [kernelName, kernelFunc] of kernels) {
    const existing = tf.getKernel(kernelName, backendName);
    // blas's own kernels (a column sum by sgemm, SGD by saxpy) beat the JavaScript loops.
    if (backendName === "blas" && BLAS_OWN_KERNELS.has(kernelName)) continue;
    if (existing !== undefined) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({ ...existing, kernelName, backendName, kernelFunc });
  }
}

registerCpuKernels("cpu");
if (registerBlasBackend().ok) registerCpuKernels("blas");

async function register(name: Exclude<BackendName, "auto">): Promise<void> {
  if (name === "blas") {
    const result = registerBlasBackend();
    if (!result.ok) throw new Error(`backend "blas" is unavailable: ${result.reason}`);
    registerCpuKernels("blas");
  } else if (name === "wasm") {
    await registerWasmBackend();
  } else if (name === "tensorflow") {
    await importFirst(
      [OPTIONAL.tfjsNodeGpu, OPTIONAL.tfjsNode],
      'install it first (see README: Backends), or choose the backend "blas" or "wasm"',
    );
  } else if (name === "webgpu") {
    await registerWebgpuBackend();
  }
}

let webgpuRegistered = false;

/**
 * Loads tfjs's webgpu backend and gives it the WGSL kernels of ./webgpu.ts (once). Asks for an
 * adapter first: without one, tfjs would only say that the backend failed to start.
 */
async function registerWebgpuBackend(): Promise<void> {
  if (!("gpu" in navigator)) {
    throw new Error(
      `backend "webgpu" needs WebGPU, which this Deno lacks: use Deno 2.x (older ones: run ` +
        `with --unstable-webgpu), or choose another backend`,
    );
  }
  // The adapter tfjs-backend-webgpu asks for.
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) {
    throw new Error(
      `backend "webgpu" found no GPU adapter: install the GPU's Vulkan driver (without a GPU, ` +
        `Debian's mesa-vulkan-drivers gives a software one), or choose another backend`,
    );
  }
  if (webgpuRegistered) return;
  await import(OPTIONAL.webgpu);
  for (const [kernelName, kernelFunc] of WEBGPU_KERNELS) {
    tf.registerKernel({ kernelName, backendName: "webgpu", kernelFunc });
  }
  webgpuRegistered = true;
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
  // Under --frozen (the project's tasks) a package missing from deno.lock is not installed,
  // rather than installed behind the user's back into the tracked lockfile; Deno's own advice,
  // to rerun with --frozen=false, would do just that.
  if (failures.every((failure) => /lockfile is out of date/i.test(failure))) {
    throw new Error(
      `backend "tensorflow" is not installed (${specifiers.join(" and ")} are not in the ` +
        `lockfile): ${advice}`,
    );
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
 * import { assert } from "@std/assert";
 * import { setBackend } from "./mod.ts";
 * const used = await setBackend("auto");
 * assert(used === "blas" || used === "wasm"); // blas where OpenBLAS is installed
 * ```
 */
export async function setBackend(name: string = readEnv("FF_BACKEND") ?? "auto"): Promise<string> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new Error(`unknown backend "${name}": choose one of ${BACKENDS.join(", ")}`);
  }
  if (name === "auto") {
    const blas = registerBlasBackend();
    // An OpenBLAS named by FF_OPENBLAS that does not load is a mistake to say, not to step round.
    if (!blas.ok && readEnv("FF_OPENBLAS") !== undefined) throw new Error(blas.reason);
    return await setBackend(blas.ok ? "blas" : "wasm");
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
      `backend "${name}" failed to start (tfjs would have used "${tf.getBackend()}"): ` +
        `choose another backend`,
    );
  }
  return name;
}

/**
 * A float32 tensor's values, to be read at once and let go, never written: on the CPU backends
 * the tensor's own memory (a read hands out a copy there, and a checkpoint's copies were 45 MB of
 * garbage at a run's peak), elsewhere its values as `data()` gives them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "../deps.ts";
 * import { peekValues } from "./mod.ts";
 * const t = tf.tensor1d([1, 2, 3]);
 * assertEquals(Array.from(await peekValues(t)), [1, 2, 3]);
 * t.dispose();
 * ```
 */
export async function peekValues(t: tf.Tensor): Promise<Float32Array> {
  const backend = tf.engine().backend;
  if (backend instanceof MathBackendCPU && t.dtype === "float32" && backend.data.has(t.dataId)) {
    const values = backend.data.get(t.dataId).values;
    if (values instanceof Float32Array && values.length === t.size) return values;
  }
  return await t.data() as Float32Array;
}

export {
  type BlasInfo,
  blasInUse,
  type BlasLibrary,
  blasLibrary,
  blasLibraryCandidates,
  describeBlas,
  findBlasLibrary,
} from "./blas.ts";
