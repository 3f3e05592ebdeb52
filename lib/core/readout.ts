/**
 * Hinton's softmax readout: a linear classifier on the normalised activities of the upper layers,
 * from one pass with the neutral label, trained beside the layers with its own learning rate and
 * weight cost. Its gradient stops at its input: the layers never hear of it.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { checkNames, checkRange } from "./check.ts";
import { hardNegativeLabels, labelArray } from "./data.ts";
import { SGD } from "./optim.ts";

/** The readout's training settings; the defaults are Hinton's code's. */
export interface ReadoutOptions {
  /** Default 0.1. */
  learningRate?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 0.003. */
  weightDecay?: number;
}

/** Every option of the readout. */
export const READOUT_OPTIONS: readonly (keyof ReadoutOptions)[] = [
  "learningRate",
  "momentum",
  "weightDecay",
];

/**
 * logits = Σᵢ statesᵢ Wᵢ over the layers it reads, W starting at zero.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { SoftmaxReadout } from "./readout.ts";
 * const readout = new SoftmaxReadout([3], 2);
 * const states = [tf.tensor2d([[1, 0, 0], [0, 1, 0]])];
 * for (let i = 0; i < 50; i++) readout.step(states, [0, 1]).dispose();
 * assertEquals(tf.argMax(readout.logits(states), 1).arraySync(), [0, 1]);
 * ```
 */
export class SoftmaxReadout {
  /** One [width, numClasses] matrix per layer read. */
  readonly weights: tf.Variable<tf.Rank.R2>[];
  readonly numClasses: number;
  readonly options: Required<ReadoutOptions>;
  readonly optimizer: SGD;

  constructor(widths: number[], numClasses: number, options: ReadoutOptions = {}) {
    checkNames(options, READOUT_OPTIONS, "readout option");
    SoftmaxReadout.checkOptions(options);
    const { learningRate = 0.1, momentum = 0.9, weightDecay = 0.003 } = options;
    this.options = { learningRate, momentum, weightDecay };
    this.numClasses = numClasses;
    this.weights = tf.tidy(() =>
      widths.map((width) => tf.variable(tf.zeros<tf.Rank.R2>([width, numClasses]), false))
    );
    this.optimizer = new SGD(this.weights, this.options);
  }

  /** Throws a one-line error for an option out of range, its name after `prefix`. */
  static checkOptions(options: ReadoutOptions, prefix = ""): void {
    const { learningRate = 0.1, momentum = 0.9, weightDecay = 0.003 } = options;
    checkRange(`${prefix}learningRate`, learningRate, { min: 0 });
    checkRange(`${prefix}momentum`, momentum, { min: 0, below: 1 });
    checkRange(`${prefix}weightDecay`, weightDecay, { min: 0 });
  }

  /** The class scores, [n, numClasses], from the normalised activities of the layers read. */
  logits(states: tf.Tensor2D[]): tf.Tensor2D {
    if (states.length !== this.weights.length) {
      throw new Error(`the readout reads ${this.weights.length} layers, got ${states.length}`);
    }
    return tf.tidy(() => tf.addN(states.map((s, i) => tf.matMul(s, this.weights[i]))));
  }

  /**
   * One SGD step on the cross-entropy of softmax(logits) against `labels`, the learning rate
   * times `scale`; returns that loss (mean over rows, before the step).
   */
  step(states: tf.Tensor2D[], labels: ArrayLike<number>, scale = 1): tf.Scalar {
    const rows = states[0].shape[0];
    const checked = labelArray(labels, rows, this.numClasses);
    return tf.tidy(() => {
      const logits = this.logits(states);
      const target = tf.oneHot(tf.tensor1d(checked, "int32"), this.numClasses);
      const loss = tf.losses.softmaxCrossEntropy(target, logits);
      // ∂loss/∂Wᵢ = statesᵢᵀ (softmax(logits) - target) / rows
      const error = tf.div(tf.sub(tf.softmax(logits), target), rows);
      this.optimizer.step(states.map((s) => tf.matMul(s, error, true, false)), scale);
      return loss as tf.Scalar;
    });
  }

  /** The readout's weights, then its optimiser's velocities. */
  get variables(): tf.Variable[] {
    return [...this.weights, ...this.optimizer.slots];
  }

  /**
   * One step on a batch's states; with `hard`, also the batch's hard negative labels, drawn from
   * the scores before the step, as in Hinton's code. Shared by FFNN and RecurrentFF.
   */
  async trainStep(
    states: tf.Tensor2D[],
    y: Int32Array,
    scale: number,
    hard: boolean,
    seed: number,
  ): Promise<Int32Array | undefined> {
    let hardLabels: Int32Array | undefined;
    if (hard) {
      const scores = this.logits(states);
      try {
        hardLabels = await hardNegativeLabels(scores, y, seed);
      } finally {
        scores.dispose();
      }
    }
    this.step(states, y, scale).dispose();
    return hardLabels;
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}
