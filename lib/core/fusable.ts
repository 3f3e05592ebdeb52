/**
 * Formulas that a backend may compute in one pass.
 *
 * Each formula of the core is written once, in plain tf ops. A backend (lib/backends/) may
 * register a kernel under the formula's name that computes the same numbers with fewer passes
 * over memory; a test holds every such kernel equal to its formula on random inputs. Callers
 * call the formula and never learn which of the two ran.
 *
 * @module
 */
import { tf } from "./deps.ts";

/** A formula in plain tf ops, with the name under which a backend may register it fused. */
export interface Fusable<I extends tf.NamedTensorMap, A extends tf.NamedAttrMap, O> {
  (inputs: I, attrs: A): O;
  /** The kernel name a backend registers its fused version under. */
  readonly kernelName: string;
  /** The plain version, whatever the backend has registered. */
  readonly formula: (inputs: I, attrs: A) => O;
}

/**
 * Wraps `formula` so that a kernel named `kernelName` runs instead where the active backend has
 * one. `O` is a tensor or an array of tensors, in the order the kernel returns them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { fusable } from "./fusable.ts";
 *
 * const sumOfSquares = fusable(
 *   "DemoSumOfSquares",
 *   ({ x }: { x: tf.Tensor }) => tf.sum(tf.square(x)),
 * );
 * // No backend registers DemoSumOfSquares, so the formula runs.
 * assertEquals(sumOfSquares({ x: tf.tensor([1, 2]) }, {}).arraySync(), 5);
 * ```
 */
export function fusable<
  I extends tf.NamedTensorMap,
  A extends tf.NamedAttrMap,
  O extends tf.Tensor | tf.Tensor[],
>(kernelName: string, formula: (inputs: I, attrs: A) => O): Fusable<I, A, O> {
  const run = (inputs: I, attrs: A): O =>
    tf.getKernel(kernelName, tf.getBackend()) === undefined
      ? tf.tidy(() => formula(inputs, attrs))
      : tf.engine().runKernel(kernelName, inputs, attrs) as unknown as O;
  return Object.assign(run, { kernelName, formula });
}
