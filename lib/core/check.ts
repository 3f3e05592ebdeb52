/**
 * What the core refuses, in one place: option names it does not know, numbers out of range,
 * data that is not finite, and a backend that computes its products wrongly. Every error is one
 * line in the library's own names, saying what to change.
 *
 * @module
 */
import { tf } from "./deps.ts";

/**
 * Throws for a key of `given` that `known` does not list, naming the nearest known one: a typo
 * (`learningrate`) would otherwise be silently ignored.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkNames } from "./check.ts";
 * assertThrows(
 *   () => checkNames({ learningrate: 0.1 }, ["learningRate", "momentum"], "option"),
 *   Error,
 *   'unknown option "learningrate": did you mean "learningRate"?',
 * );
 * ```
 */
export function checkNames(given: object, known: readonly string[], what: string): void {
  for (const name of Object.keys(given ?? {})) {
    if (known.includes(name)) continue;
    const nearest = known.reduce((a, b) => distance(name, b) < distance(name, a) ? b : a);
    throw new Error(
      `unknown ${what} "${name}": did you mean "${nearest}"? (known: ${known.join(", ")})`,
    );
  }
}

/** Edit distance, letters compared without case: `learningrate` is one away from nothing else. */
function distance(a: string, b: string): number {
  [a, b] = [a.toLowerCase(), b.toLowerCase()];
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The largest float32: a setting beyond it is Infinity in every tensor it enters. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Throws unless `value` is a number in [min, max] (`below`: up to, not including, max) that
 * float32 holds: `"abc"`, NaN and 1e39 all become NaN or Infinity in a tensor.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkRange } from "./check.ts";
 * checkRange("momentum", 0.9, { min: 0, below: 1 });
 * assertThrows(() => checkRange("momentum", 1.5, { min: 0, below: 1 }), Error, "momentum must be");
 * ```
 */
export function checkRange(
  name: string,
  value: unknown,
  { min = -FLOAT32_MAX, max = FLOAT32_MAX, below }: { min?: number; max?: number; below?: number },
): void {
  const ok = typeof value === "number" && value >= min &&
    (below === undefined ? value <= max : value < below);
  if (ok) return;
  const upper = below === undefined
    ? max === FLOAT32_MAX ? "" : ` and at most ${max}`
    : ` and below ${below}`;
  const lower = min === -FLOAT32_MAX ? "a finite number" : `a number from ${min}`;
  throw new Error(
    `${name} must be ${lower}${upper}, got ${typeof value === "string" ? `"${value}"` : value}`,
  );
}

/**
 * Throws, naming the argument, when a tensor holds NaN or Infinity: the network would answer
 * label 0 for such a row, or train its weights into NaN. A loop over the values as the backend
 * holds them (tfjs's cpu backend hands out its own array, so no copy): a tenth of the time of
 * tf ops doing the same. Skipped where the backend cannot read synchronously (webgpu, webgl),
 * so there the training calls' own checks are the only ones.
 */
export function checkFinite(tensors: Record<string, tf.Tensor>): void {
  if (!readsSynchronously()) return;
  for (const [name, x] of Object.entries(tensors)) checkFiniteValues(name, x.dataSync());
}

/** {@linkcode checkFinite} for the training calls, which can wait for a read on every backend. */
export async function checkFiniteAsync(tensors: Record<string, tf.Tensor>): Promise<void> {
  if (readsSynchronously()) return checkFinite(tensors);
  // On a GPU, one reduction there and one number back, not every value.
  const names = Object.keys(tensors);
  const sums = tf.tidy(() => tf.stack(names.map((name) => zeroSum(tensors[name]))));
  const values = await sums.data();
  sums.dispose();
  const bad = values.findIndex((v) => v !== 0);
  if (bad >= 0) throw notFinite(names[bad]);
}

/** {@linkcode checkFinite} for plain values. */
export function checkFiniteValues(name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw notFinite(name, `at index ${i}`);
  }
}

function notFinite(name: string, where = ""): Error {
  return new Error(
    `${name} contains NaN or Infinity${where && ` ${where}`}: clean the data first ` +
      `(e.g. replace missing pixels by 0)`,
  );
}

/** 0·x summed: 0 exactly when every x is finite (0·∞ and 0·NaN are NaN). */
export function zeroSum(x: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(x, 0));
}

/** Whether each `_FusedMatMul` kernel met so far computes the core's products. */
const fusedProducts = new Map<unknown, boolean>();

/**
 * Throws when the backend's fused product gets the core's two uses of it wrong: `transposeB`
 * with a bias, and a bias of rank 2. tfjs's own wasm backend (4.22) does, with wrong numbers
 * and a crash; lib/backends/ (`setBackend("wasm")`) sets it up with workarounds, which pass.
 * Probed once per kernel, on a 2 × 2 product, where the backend reads synchronously.
 */
export function checkBackend(): void {
  if (!readsSynchronously()) return;
  const kernel = tf.getKernel("_FusedMatMul", tf.getBackend())?.kernelFunc;
  if (!fusedProducts.has(kernel)) fusedProducts.set(kernel, fusedProductsWork());
  if (fusedProducts.get(kernel)) return;
  throw new Error(
    `the backend "${tf.getBackend()}" computes the fused matrix products this library uses ` +
      `wrongly (as tfjs's own wasm backend does): for wasm, set it with setBackend("wasm") from ` +
      `lib/backends/mod.ts, which works around them; or use tfjs's "cpu" backend`,
  );
}

function fusedProductsWork(): boolean {
  try {
    return tf.tidy(() => {
      const a = tf.tensor2d([[1, 2], [3, 4]]);
      const b = tf.tensor2d([[1, 0], [2, 1], [0, 3]]);
      const bias = tf.tensor1d([1, 2, 3]);
      const expected = [2, 6, 9, 4, 12, 15];
      const rowBias = tf.fused.matMul({ a, b, transposeB: true, bias });
      const wholeBias = tf.fused.matMul({ a, b, transposeB: true, bias: tf.stack([bias, bias]) });
      return [rowBias, wholeBias].every((c) => tf.util.arraysEqual(c.dataSync(), expected));
    });
  } catch {
    return false;
  }
}

/**
 * False for a backend whose data lives on a GPU (webgpu, webgl: those that implement
 * `readToGPU`), where a synchronous read fails or stalls the device.
 */
function readsSynchronously(): boolean {
  const backend = tf.engine().backend as unknown as { readToGPU: unknown };
  return backend.readToGPU === tf.KernelBackend.prototype.readToGPU;
}
