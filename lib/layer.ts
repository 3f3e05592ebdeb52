/**
 * One Forward-Forward layer: a linear layer that learns on its own.
 *
 * It normalises its input to unit length (so only the direction of the previous layer's
 * output counts, not how excited that layer was), applies relu(x̂Wᵀ + b), and trains W and b
 * so that goodness (mean of squared outputs) is high for positive data and low for negative
 * data. No gradient ever leaves the layer.
 *
 * @module
 */
import { Adam } from "./adam.ts";
import { releasePooledMemory } from "./blas.ts";
import { tf } from "./deps.ts";
import { ffLoss, ffLossAndGradient, goodness, NORMALIZE_ROWS } from "./goodness.ts";
import { uniform } from "./random.ts";

/** Called after every epoch with the epoch's loss; awaited when it returns a promise. */
export type EpochCallback = (progress: {
  layer: number;
  layers: number;
  epoch: number;
  epochs: number;
  loss: number;
}) => void | Promise<void>;

/** Options of a {@linkcode Layer}; the defaults are the post's. */
export interface LayerOptions {
  /** θ: positive goodness should end above it, negative below. Default 2. */
  threshold?: number;
  /** Adam's step size. Default 0.03. */
  learningRate?: number;
  /** Full-batch steps in `train`. Default 1000. */
  epochs?: number;
  /** Seed of the initial weights. Default 0. */
  seed?: number;
  /** Initial weight, [out, in] as in torch.nn.Linear. Default: U(-1/√in, 1/√in) like torch. */
  weight?: number[][] | tf.Tensor2D;
  /** Initial bias, [out]. Default: U(-1/√in, 1/√in) like torch. */
  bias?: number[] | tf.Tensor1D;
}

/**
 * Unit-length rows: x / (‖x‖₂ + 1e-8), the 1e-8 keeping an all-zero row at zero. One fused
 * kernel where the backend has it (./fused.ts), tfjs ops elsewhere.
 */
export function normalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  if (tf.getKernel(NORMALIZE_ROWS, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(NORMALIZE_ROWS, { x }) as tf.Tensor2D;
  }
  return tf.tidy(() => tf.div(x, tf.add(tf.sqrt(tf.sum(tf.square(x), 1, true)), 1e-8)));
}

function checkNumber(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new Error(`${name} must be a finite number, got ${value}`);
}

function initial(
  given: number[][] | number[] | tf.Tensor | undefined,
  shape: number[],
  seed: number,
  name: string,
): tf.Tensor {
  const bound = 1 / Math.sqrt(shape.at(-1) === undefined ? 1 : shape[shape.length - 1]);
  if (given === undefined) {
    const count = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(uniform(count, -bound, bound, seed), shape);
  }
  return tf.tidy(() => {
    const tensor = given instanceof tf.Tensor ? given : tf.tensor(given);
    if (!tf.util.arraysEqual(tensor.shape, shape)) {
      throw new Error(
        `initial ${name} has shape ${JSON.stringify(tensor.shape)}, expected ${
          JSON.stringify(shape)
        }`,
      );
    }
    return tf.cast(tensor, "float32");
  });
}

/**
 * A Forward-Forward layer.
 *
 * @example
 * ```ts
 * const layer = new Layer(794, 500, { epochs: 100, seed: 1 });
 * const [hPos, hNeg] = await layer.train(xPositive, xNegative);
 * console.log(layer.losses.at(-1));
 * ```
 */
export class Layer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly threshold: number;
  readonly learningRate: number;
  readonly epochs: number;
  /** [out, in], as torch.nn.Linear.weight. */
  readonly weight: tf.Variable<tf.Rank.R2>;
  /** [out]. */
  readonly bias: tf.Variable<tf.Rank.R1>;
  /** The loss of every epoch of the last `train` call. */
  losses: number[] = [];
  private readonly optimizer: Adam;

  constructor(inFeatures: number, outFeatures: number, options: LayerOptions = {}) {
    for (
      const [name, size] of [["inFeatures", inFeatures], ["outFeatures", outFeatures]] as const
    ) {
      if (!Number.isInteger(size) || size < 1) {
        throw new Error(`${name} must be a positive integer, got ${size}`);
      }
    }
    const { threshold = 2, learningRate = 0.03, epochs = 1000, seed = 0 } = options;
    checkNumber("threshold", threshold);
    checkNumber("learningRate", learningRate);
    if (!Number.isInteger(epochs) || epochs < 0) {
      throw new Error(`epochs must be a non-negative integer, got ${epochs}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.threshold = threshold;
    this.learningRate = learningRate;
    this.epochs = epochs;
    // One seed, two streams: the weight's and the bias's draws must not overlap.
    const weight = initial(options.weight, [outFeatures, inFeatures], seed, "weight");
    const bias = initial(options.bias, [outFeatures], seed + 0x9e3779b9, "bias");
    this.weight = tf.variable(weight as tf.Tensor2D, true);
    this.bias = tf.variable(bias as tf.Tensor1D, true);
    weight.dispose();
    bias.dispose();
    this.optimizer = new Adam([this.weight, this.bias], { learningRate });
  }

  /** relu(x̂Wᵀ + b) with x̂ the unit-length rows of x. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => this.affine(normalizeRows(x), "relu"));
  }

  /** Goodness of every row of x: mean(forward(x)²). */
  goodness(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => goodness(this.forward(x)));
  }

  /** The FF loss on positive and negative data. */
  loss(xPositive: tf.Tensor2D, xNegative: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() =>
      ffLoss(this.goodness(xPositive), this.goodness(xNegative), this.threshold)
    );
  }

  /**
   * The loss and its gradients with respect to weight and bias (what `loss.backward()`
   * leaves in `.grad` in the post), without changing the layer.
   */
  gradients(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
  ): { loss: tf.Scalar; weight: tf.Tensor2D; bias: tf.Tensor1D } {
    const inputs = this.trainingInputs(xPositive, xNegative);
    try {
      return tf.tidy(() => {
        const { loss, weight, bias } = this.lossAndGradients(inputs);
        return { loss, weight, bias };
      });
    } finally {
      tf.dispose([inputs.x, inputs.ones, inputs.xT ?? []]);
    }
  }

  /**
   * Trains the layer for `epochs` full-batch Adam steps on positive and negative data and
   * returns its outputs on both, the next layer's training data.
   */
  async train(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
    { onEpoch, layer = 0, layers = 1 }: {
      onEpoch?: EpochCallback;
      layer?: number;
      layers?: number;
    } = {},
  ): Promise<[tf.Tensor2D, tf.Tensor2D]> {
    const inputs = this.trainingInputs(xPositive, xNegative);
    this.losses = [];
    try {
      await checkFinite(inputs.x);
      for (let epoch = 1; epoch <= this.epochs; epoch++) {
        const loss = tf.tidy(() => this.adamStep(inputs).loss);
        const value = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(value)) {
          throw new Error(
            `layer ${layer} loss became ${value} at epoch ${epoch}: lower the learning rate (--lr) or check the inputs`,
          );
        }
        this.losses.push(value);
        await onEpoch?.({ layer, layers, epoch, epochs: this.epochs, loss: value });
      }
      return tf.tidy(() => splitRows(this.affine(inputs.x, "relu"), inputs.numPositive));
    } finally {
      tf.dispose([inputs.x, inputs.ones, inputs.xT ?? []]);
      releasePooledMemory();
    }
  }

  /**
   * One Adam step on a batch of positive and negative data (mini-batch training, which the
   * post does not do). Returns the batch's loss and the layer's outputs on it, computed in
   * the same forward pass, before the step.
   */
  step(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
  ): { loss: tf.Scalar; hPositive: tf.Tensor2D; hNegative: tf.Tensor2D } {
    const inputs = this.trainingInputs(xPositive, xNegative);
    try {
      return tf.tidy(() => {
        const { loss, z } = this.adamStep(inputs);
        const [hPositive, hNegative] = splitRows(tf.relu(z), inputs.numPositive);
        return { loss, hPositive, hNegative };
      });
    } finally {
      tf.dispose([inputs.x, inputs.ones, inputs.xT ?? []]);
    }
  }

  /** Frees the layer's weights and optimiser state. */
  dispose(): void {
    tf.dispose([this.weight, this.bias]);
    this.optimizer.dispose();
  }

  private checkInput(x: tf.Tensor): void {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new Error(
        `layer expects [n, ${this.inFeatures}] inputs, got ${
          JSON.stringify(x.shape)
        }: make --dims start with the data's width`,
      );
    }
  }

  /**
   * The layer's input does not change while it trains, so it is normalised once, not every
   * epoch. On wasm, whose products of transposed operands are slow, it is also transposed
   * once for the weight gradient.
   *
   * @example
   * ```ts
   * const inputs = layer.trainingInputs(xPositive, xNegative);
   * const loss = tf.tidy(() => layer.adamStep(inputs).loss); // one epoch
   * tf.dispose([inputs.x, inputs.ones, inputs.xT ?? []]);
   * ```
   */
  trainingInputs(xPositive: tf.Tensor2D, xNegative: tf.Tensor2D): TrainingInputs {
    this.checkInput(xPositive);
    this.checkInput(xNegative);
    return tf.tidy(() => {
      const x = normalizeRows(tf.concat2d([xPositive, xNegative], 0));
      const xT = tf.getBackend() === "wasm" ? tf.transpose(x) : undefined;
      const ones: tf.Tensor2D = tf.ones([1, x.shape[0]]);
      return { x, xT, ones, numPositive: xPositive.shape[0] };
    });
  }

  /**
   * x̂Wᵀ + b, then `activation`, for rows x̂ already normalised: one fused product where the
   * backend can.
   */
  affine(x: tf.Tensor2D, activation: "relu" | "linear" = "relu"): tf.Tensor2D {
    // wasm multiplies by a transposed operand slowly, and tfjs 4.22's wasm fused product
    // with transposeB and a bias returns wrong numbers: give it Wᵀ (small) instead.
    const wasm = tf.getBackend() === "wasm";
    return tf.fused.matMul({
      a: x,
      b: wasm ? tf.transpose(this.weight) : this.weight,
      transposeB: !wasm,
      bias: this.bias,
      activation,
    }) as tf.Tensor2D;
  }

  /**
   * One full-batch Adam step on {@linkcode Layer.trainingInputs}: returns the loss and the
   * pre-activations z it was computed from (before the step). Call inside tf.tidy.
   */
  adamStep(inputs: TrainingInputs): { loss: tf.Scalar; z: tf.Tensor2D } {
    const { loss, weight, bias, z } = this.lossAndGradients(inputs);
    this.optimizer.step([weight, bias]);
    return { loss, z };
  }

  /** One forward and backward pass; call inside tf.tidy. */
  private lossAndGradients(
    { x, xT, ones, numPositive }: TrainingInputs,
  ): { loss: tf.Scalar; weight: tf.Tensor2D; bias: tf.Tensor1D; z: tf.Tensor2D } {
    const z = this.affine(x, "linear");
    const { loss, dz } = ffLossAndGradient(z, numPositive, this.threshold);
    // ∂loss/∂W = dzᵀ x̂ and ∂loss/∂b = 1ᵀ dz: products, not a transpose or a column sum.
    const weight: tf.Tensor2D = xT
      ? tf.transpose(tf.matMul(xT, dz))
      : tf.matMul(dz, x, true, false);
    const bias = tf.reshape(tf.matMul(ones, dz), [this.outFeatures]) as tf.Tensor1D;
    return { loss, weight, bias, z };
  }
}

/** A layer's training data, made once by {@linkcode Layer.trainingInputs}; dispose its tensors. */
export interface TrainingInputs {
  /** x̂: unit-length positive rows, then negative rows: [rows, in]. */
  x: tf.Tensor2D;
  /** [1, rows] of ones, for the bias gradient. */
  ones: tf.Tensor2D;
  /** x̂ transposed, on backends that multiply transposed operands slowly (wasm). */
  xT?: tf.Tensor2D;
  numPositive: number;
}

/** The positive rows (the first `numPositive`) and the negative rows of h. */
function splitRows(h: tf.Tensor2D, numPositive: number): [tf.Tensor2D, tf.Tensor2D] {
  const [rows, width] = h.shape;
  return [
    tf.slice2d(h, [0, 0], [numPositive, width]),
    tf.slice2d(h, [numPositive, 0], [rows - numPositive, width]),
  ];
}

/**
 * A NaN in the data would silently poison every weight: stop early with a clear message. The
 * rows are unit length here, so their sum is finite exactly when every value is.
 */
async function checkFinite(x: tf.Tensor2D): Promise<void> {
  const sum = tf.sum(x);
  const value = (await sum.data())[0];
  sum.dispose();
  if (!Number.isFinite(value)) {
    throw new Error("the layer's input contains NaN or Infinity: clean the data first");
  }
}
