/**
 * The two optimisers of the two recipes, each update written once as a formula.
 *
 * Adam, as torch.optim.Adam computes it, for the post:
 *
 *   m ← β₁m + (1-β₁)g,   v ← β₂v + (1-β₂)g²,
 *   p ← p - (lr / (1-β₁ᵗ)) · m / (√v / √(1-β₂ᵗ) + ε)
 *
 * with torch's defaults β = (0.9, 0.999), ε = 1e-8 (tfjs's own Adam puts ε elsewhere and
 * defaults it to 1e-7).
 *
 * SGD as Hinton's code does it: the velocity is a running average of the gradients, and the
 * weight cost (weight decay) is added at the step, to weights only, not biases:
 *
 *   v ← μv + (1-μ)g,   p ← p - lr · (v + λp)
 *
 * @module
 */
import { tf } from "./deps.ts";
import { type Fusable, fusable } from "./fusable.ts";

/** What both optimisers offer: a step, their state (for checkpoints), and disposal. */
export interface Optimizer {
  /** One update with these gradients, one per variable, in order; lr times `scale`. */
  step(gradients: tf.Tensor[], scale?: number): void;
  /** Steps taken so far. */
  steps: number;
  /** The optimiser's own variables (moments, velocities), in a fixed order. */
  readonly slots: tf.Variable[];
  /** Frees the slots (not the parameters, which belong to the caller). */
  dispose(): void;
}

/** Adam's hyper-parameters; the defaults are torch's. */
export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/**
 * `overwrite`: the caller replaces its inputs p, m and v (or p and v) by the outputs at once, so
 * a backend may write the outputs into the inputs' memory. The formula ignores it.
 */
type AdamAttrs = Required<AdamOptions> & { step: number; overwrite?: boolean };

/** One Adam update of one parameter: [p, m, v] after the step. */
export const adamUpdate: Fusable<Record<"p" | "m" | "v" | "g", tf.Tensor>, AdamAttrs, tf.Tensor[]> =
  fusable(
    "FFAdamUpdate",
    (
      { p, m, v, g }: Record<"p" | "m" | "v" | "g", tf.Tensor>,
      { learningRate, beta1, beta2, epsilon, step }: AdamAttrs,
    ): tf.Tensor[] => {
      const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
      const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
      const denominator = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(1 - beta2 ** step)), epsilon);
      const p1 = tf.sub(p, tf.mul(tf.div(m1, denominator), learningRate / (1 - beta1 ** step)));
      return [p1, m1, v1];
    },
  );

/** SGD's attributes; `overwrite` as for Adam's. */
type SgdAttrs = Record<"learningRate" | "momentum" | "weightDecay", number> & {
  overwrite?: boolean;
};

/** One SGD update of one parameter: [p, v] after the step. */
export const sgdUpdate: Fusable<Record<"p" | "v" | "g", tf.Tensor>, SgdAttrs, tf.Tensor[]> =
  fusable(
    "FFSgdUpdate",
    (
      { p, v, g }: Record<"p" | "v" | "g", tf.Tensor>,
      { learningRate, momentum, weightDecay }: SgdAttrs,
    ): tf.Tensor[] => {
      const v1 = tf.add(tf.mul(v, momentum), tf.mul(g, 1 - momentum));
      const p1 = tf.sub(p, tf.mul(tf.add(v1, tf.mul(p, weightDecay)), learningRate));
      return [p1, v1];
    },
  );

function zerosLike(params: tf.Variable[]): tf.Variable[] {
  return tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
}

function checkCount(what: string, gradients: tf.Tensor[], params: tf.Variable[]): void {
  if (gradients.length !== params.length) {
    throw new Error(`${what} got ${gradients.length} gradients for ${params.length} variables`);
  }
}

function assignAll(variables: tf.Variable[], values: tf.Tensor[]): void {
  variables.forEach((variable, i) => variable.assign(values[i]));
}

/**
 * Adam over a fixed list of variables.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { Adam } from "./optim.ts";
 * const w = tf.variable(tf.zeros([2, 2]));
 * const adam = new Adam([w], { learningRate: 0.03 });
 * adam.step([tf.ones([2, 2])]);
 * assertAlmostEquals(w.dataSync()[0], -0.03, 1e-7); // Adam's first step is the learning rate
 * ```
 */
export class Adam implements Optimizer {
  readonly options: Required<AdamOptions>;
  steps = 0;
  readonly slots: tf.Variable[];
  readonly #params: tf.Variable[];

  constructor(params: tf.Variable[], options: AdamOptions) {
    const { learningRate, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8 } = options;
    this.options = { learningRate, beta1, beta2, epsilon };
    this.#params = params;
    this.slots = zerosLike([...params, ...params]); // m of each, then v of each
  }

  step(gradients: tf.Tensor[], scale = 1): void {
    checkCount("Adam", gradients, this.#params);
    this.steps++;
    const attrs = {
      ...this.options,
      learningRate: this.options.learningRate * scale,
      step: this.steps,
      overwrite: true,
    };
    const n = this.#params.length;
    tf.tidy(() =>
      this.#params.forEach((p, i) => {
        const [m, v] = [this.slots[i], this.slots[n + i]];
        assignAll([p, m, v], adamUpdate({ p, m, v, g: gradients[i] }, attrs));
      })
    );
  }

  dispose(): void {
    tf.dispose(this.slots);
  }
}

/** SGD's hyper-parameters; the defaults are Hinton's code's. */
export interface SGDOptions {
  learningRate: number;
  /** μ: how much of the velocity each step keeps. Default 0.9. */
  momentum?: number;
  /** λ: the weight cost, on parameters of rank 2 and more (weights, not biases). Default 0. */
  weightDecay?: number;
}

/**
 * SGD with a smoothed gradient and a weight cost, as in Hinton's code.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { SGD } from "./optim.ts";
 * const w = tf.variable(tf.ones([2, 2]));
 * const sgd = new SGD([w], { learningRate: 0.5, momentum: 0.9, weightDecay: 0.1 });
 * sgd.step([tf.ones([2, 2])]);
 * assertAlmostEquals(w.dataSync()[0], 0.9, 1e-6); // v = 0.1, w = 1 - 0.5 · (0.1 + 0.1 · 1)
 * ```
 */
export class SGD implements Optimizer {
  readonly options: Required<SGDOptions>;
  steps = 0;
  readonly slots: tf.Variable[];
  readonly #params: tf.Variable[];

  constructor(params: tf.Variable[], options: SGDOptions) {
    const { learningRate, momentum = 0.9, weightDecay = 0 } = options;
    this.options = { learningRate, momentum, weightDecay };
    this.#params = params;
    this.slots = zerosLike(params);
  }

  step(gradients: tf.Tensor[], scale = 1): void {
    checkCount("SGD", gradients, this.#params);
    this.steps++;
    const { learningRate, momentum, weightDecay } = this.options;
    tf.tidy(() =>
      this.#params.forEach((p, i) => {
        const v = this.slots[i];
        const attrs = {
          learningRate: learningRate * scale,
          momentum,
          weightDecay: p.rank >= 2 ? weightDecay : 0,
          overwrite: true,
        };
        assignAll([p, v], sgdUpdate({ p, v, g: gradients[i] }, attrs));
      })
    );
  }

  dispose(): void {
    tf.dispose(this.slots);
  }
}

/**
 * Hinton's learning-rate schedule: the full rate for the first half of training, then a linear
 * cooldown to 1/epochs of it at the last epoch.
 *
 * @param epoch 1-based
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cooldown } from "./optim.ts";
 * assertEquals([1, 50, 51, 100].map((epoch) => cooldown(epoch, 100)), [1, 1, 0.99, 0.01]);
 * ```
 */
export function cooldown(epoch: number, epochs: number): number {
  return epoch <= epochs / 2 ? 1 : (1 + 2 * (epochs - epoch)) / epochs;
}
