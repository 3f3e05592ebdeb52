/**
 * One Forward-Forward layer: a linear layer that learns on its own.
 *
 * It normalises its input (so only the direction of the previous layer's output counts, not how
 * excited that layer was), applies relu(x̂Wᵀ + b), and trains W and b so that goodness is high
 * for positive data and low for negative data. No gradient ever leaves the layer.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { checkBackend, checkFinite, checkFiniteAsync, checkNames, checkRange } from "./check.ts";
import { type Fusable, fusable } from "./fusable.ts";
import {
  defaultThreshold,
  ffLoss,
  ffLossAndGradient,
  goodness,
  type GoodnessKind,
} from "./goodness.ts";
import {
  inputsPerUnit,
  localAffine,
  localColumn,
  type LocalGeometry,
  localWeightGradient,
} from "./local.ts";
import { Adam, type Optimizer, SGD } from "./optim.ts";
import { mulberry32, MULBERRY32_STEP, normal, uniform } from "./random.ts";

/** Called after every epoch with the epoch's loss; awaited when it returns a promise. */
export type EpochCallback = (progress: EpochProgress) => void | Promise<void>;

/**
 * What training reports after each epoch; `layer` counts from 0, `epoch` from 1. Full-batch
 * training reports each layer's epochs in turn; mini-batch training trains all layers at once and
 * reports as one "layer" (`layer` 0 of `layers` 1) with every layer's loss in `losses`.
 */
export interface EpochProgress {
  layer: number;
  layers: number;
  epoch: number;
  epochs: number;
  /** The epoch's loss; in mini-batch training, the mean of `losses`. */
  loss: number;
  /** Mini-batch training only: each layer's mean batch loss this epoch, first layer first. */
  losses?: number[];
  /** Set once, when something is wrong but training goes on (e.g. every unit inactive). */
  warning?: string;
}

/** An option, in the library's name (`readout.learningRate` for the readout's), and its value. */
export interface Setting {
  name: string;
  value: number;
}

/**
 * Training stopped because the loss (or a weight) stopped being a finite number. The message
 * names where (a layer, or the readout), the epoch and the option most likely to blame, in the
 * library's own names (see {@linkcode likelySetting}).
 */
export class TrainingDiverged extends Error {
  /** The option to change; a number stands for `learningRate`. */
  readonly setting: Setting;

  constructor(
    readonly layer: number | "readout",
    readonly epoch: number,
    readonly value: number,
    setting: Setting | number,
  ) {
    const blamed = typeof setting === "number" ? { name: "learningRate", value: setting } : setting;
    const where = layer === "readout" ? `in the readout at` : `at layer ${layer + 1}`;
    super(
      `loss became ${value} ${where} epoch ${epoch}: lower ${blamed.name} (now ${blamed.value})`,
    );
    this.name = "TrainingDiverged";
    this.setting = blamed;
  }
}

/**
 * The option most likely to blame when training went non-finite: of learningRate,
 * peerNormalization, threshold and (with SGD, where it alone makes the weights grow:
 * learningRate × weightDecay >= 2 multiplies them by 1 - lr·λ <= -1 every step) weightDecay,
 * the one furthest above the values the recipes here use (Hinton's 0.01 for SGD, the post's
 * 0.03 for Adam; his 0.03 and 0.001; the goodness's default threshold). `prefix` goes before
 * the name (`readout.`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Layer, likelySetting } from "./layer.ts";
 * const layer = new Layer(4, 3, { optimizer: "sgd", peerNormalization: 1e6 });
 * assertEquals(likelySetting(layer.options, 3), { name: "peerNormalization", value: 1e6 });
 * layer.dispose();
 * ```
 */
export function likelySetting(
  options: Pick<
    LayerOptions,
    "optimizer" | "learningRate" | "weightDecay" | "peerNormalization" | "threshold" | "goodness"
  >,
  width: number,
  prefix = "",
): Setting {
  const { optimizer = "adam", learningRate = 0.03, weightDecay = 0, goodness = "mean" } = options;
  const weightCostGrows = optimizer === "sgd" && learningRate * weightDecay >= 2;
  const usual: [string, number, number][] = [
    ["learningRate", learningRate, optimizer === "sgd" ? 0.01 : 0.03],
    ["peerNormalization", options.peerNormalization ?? 0, 0.03],
    ["threshold", options.threshold ?? 0, defaultThreshold(goodness, width)],
    ["weightDecay", weightCostGrows ? weightDecay : 0, 0.001],
  ];
  const [name, value] = usual.reduce((a, b) => b[1] / b[2] > a[1] / a[2] ? b : a);
  return { name: prefix + name, value };
}

/** How often (in epochs) full-batch training checks for a layer whose units all went silent. */
const DEAD_CHECK_EVERY = 10;

/**
 * How a layer's input rows are scaled: `"l2"` to unit length (the post), `"rms"` to a mean
 * square of 1 (Hinton's code; the same direction, √width times longer).
 */
export type NormKind = "l2" | "rms";

/** Options of a {@linkcode Layer}; the defaults are the post's. */
export interface LayerOptions {
  /** Mean (default, the post) or sum of squares. */
  goodness?: GoodnessKind;
  /** θ: positive goodness should end above it. Default 2 for "mean", the width for "sum". */
  threshold?: number;
  /** Default "l2", the post's. */
  normalize?: NormKind;
  /** Default "adam" (the post); "sgd" is Hinton's code's. */
  optimizer?: "adam" | "sgd";
  /** The optimiser's step size. Default 0.03 (the post's Adam). */
  learningRate?: number;
  /** SGD only: how much of the velocity each step keeps. Default 0.9. */
  momentum?: number;
  /** SGD only: weight cost on W (not b). Default 0. */
  weightDecay?: number;
  /** λ of Hinton's peer normalisation (0.03 in his code); 0, the default, turns it off. */
  peerNormalization?: number;
  /**
   * Initial weights: `"uniform"` (default) is torch.nn.Linear's U(-1/√in, 1/√in) for W and b;
   * `"normal"` is Hinton's N(0, 1/in) for W and b = 0.
   */
  init?: "uniform" | "normal";
  /** Full-batch steps in `train`. Default 1000. */
  epochs?: number;
  /** Seed of the initial weights. Default 0. */
  seed?: number;
  /** Initial weight, [out, in] as in torch.nn.Linear; replaces `init`. */
  weight?: number[][] | tf.Tensor2D;
  /** Initial bias, [out]; replaces `init`. */
  bias?: number[] | tf.Tensor1D;
  /**
   * Locally connected (lib/core/local.ts): which inputs each location's units see. The weight
   * is then [out, inputs per unit]. Default: dense, every unit sees every input.
   */
  local?: LocalGeometry;
}

const normalizeFormula: Fusable<{ x: tf.Tensor2D }, { kind: NormKind }, tf.Tensor2D> = fusable(
  "FFNormalizeRows",
  ({ x }: { x: tf.Tensor2D }, { kind }: { kind: NormKind }): tf.Tensor2D => {
    const squares = tf.square(x);
    return kind === "rms"
      ? tf.div(x, tf.add(tf.sqrt(tf.mean(squares, 1, true)), RMS_TINY))
      : tf.div(x, tf.add(tf.sqrt(tf.sum(squares, 1, true)), 1e-8));
  },
);

/** Hinton's tiny, e⁻¹⁰⁰: it keeps an all-zero row at zero and changes nothing else. */
const RMS_TINY = Math.exp(-100);

/**
 * Rows scaled to unit length, x / (‖x‖₂ + 1e-8), or with `"rms"` to a mean square of one,
 * x / (√mean(x²) + e⁻¹⁰⁰); the small constants keep an all-zero row at zero.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { normalizeRows } from "./layer.ts";
 * const [[a, b]] = normalizeRows(tf.tensor2d([[3, 4]])).arraySync();
 * assertAlmostEquals(a, 0.6, 1e-6); // length 1
 * assertAlmostEquals(b, 0.8, 1e-6);
 * const [[c, d]] = normalizeRows(tf.tensor2d([[3, 4]]), "rms").arraySync();
 * assertAlmostEquals(c * c + d * d, 2, 1e-5); // mean square 1
 * ```
 */
export function normalizeRows(x: tf.Tensor2D, kind: NormKind = "l2"): tf.Tensor2D {
  return normalizeFormula({ x }, { kind });
}
normalizeRows.kernel = normalizeFormula;

/**
 * A Forward-Forward layer: called with `forward`, trained with `train` (the post's full batch)
 * or `step` (one mini-batch), its parameters `weight` and `bias`.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { Layer } from "./layer.ts";
 * const layer = new Layer(3, 4, { epochs: 20, seed: 1 });
 * const xPositive = tf.tensor2d([[1, 0, 1], [0, 1, 1]]);
 * const xNegative = tf.tensor2d([[1, 1, 0], [0, 0, 1]]);
 * const [hPositive] = await layer.train(xPositive, xNegative);
 * assertEquals(hPositive.shape, [2, 4]); // the next layer's training data
 * assertEquals(layer.losses.length, 20);
 * assert(layer.losses[19] < layer.losses[0]);
 * ```
 */
export class Layer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Every option, defaults filled in. */
  readonly options: Readonly<Required<Omit<LayerOptions, "weight" | "bias" | "local">>>;
  /** A local layer's wiring (lib/core/local.ts); absent for a dense layer. */
  readonly local?: LocalGeometry;
  /** [out, in], as torch.nn.Linear.weight; a local layer's is [out, inputs per unit]. */
  readonly weight: tf.Variable<tf.Rank.R2>;
  /** [out]. */
  readonly bias: tf.Variable<tf.Rank.R1>;
  /** Peer normalisation's running mean of each unit's activity on positive data, [out]. */
  readonly meanActivity?: tf.Variable<tf.Rank.R1>;
  readonly optimizer: Optimizer;
  /** The loss of every epoch of the last `train` call. */
  losses: number[] = [];

  constructor(inFeatures: number, outFeatures: number, options: LayerOptions = {}) {
    for (const [name, size] of [["inFeatures", inFeatures], ["outFeatures", outFeatures]]) {
      if (!Number.isInteger(size) || (size as number) < 1) {
        throw new Error(`${name} must be a positive integer, got ${size}`);
      }
    }
    checkNames(options, LAYER_OPTIONS, "layer option");
    const kind = options.goodness ?? "mean";
    this.options = {
      goodness: kind,
      threshold: options.threshold ?? defaultThreshold(kind, outFeatures),
      normalize: options.normalize ?? "l2",
      optimizer: options.optimizer ?? "adam",
      learningRate: options.learningRate ?? 0.03,
      momentum: options.momentum ?? 0.9,
      weightDecay: options.weightDecay ?? 0,
      peerNormalization: options.peerNormalization ?? 0,
      init: options.init ?? "uniform",
      epochs: options.epochs ?? 1000,
      seed: options.seed ?? 0,
    };
    checkOptions(this.options);
    if (options.local) checkLocal(options.local, inFeatures, outFeatures);
    this.local = options.local;
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const fanIn = this.local ? inputsPerUnit(this.local) : inFeatures;
    const [weight, bias] = initialWeights(fanIn, outFeatures, this.options, options);
    this.weight = tf.variable(weight, true);
    this.bias = tf.variable(bias, true);
    tf.dispose([weight, bias]);
    if (this.options.peerNormalization > 0) {
      this.meanActivity = tf.tidy(() => tf.variable(tf.fill([outFeatures], 0.5), false));
    }
    const { optimizer, learningRate, momentum, weightDecay } = this.options;
    const params = [this.weight, this.bias];
    this.optimizer = optimizer === "sgd"
      ? new SGD(params, { learningRate, momentum, weightDecay })
      : new Adam(params, { learningRate });
  }

  /** relu(x̂Wᵀ + b), x̂ the normalised rows of x. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    this.#checkInput(x);
    return tf.tidy(() => this.#affine(normalizeRows(x, this.options.normalize), "relu"));
  }

  /** Goodness of every row of x under this layer. */
  goodness(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => goodness(this.forward(x), this.options.goodness));
  }

  /** The FF loss on positive and negative data. */
  loss(xPositive: tf.Tensor2D, xNegative: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() =>
      ffLoss(this.goodness(xPositive), this.goodness(xNegative), this.options.threshold)
    );
  }

  /**
   * The post's training: `epochs` full-batch steps on all positive and negative data, then the
   * layer's outputs on both, the next layer's training data. `startEpoch` continues a run that
   * stopped after epoch startEpoch - 1 (see lib/checkpoint.ts).
   */
  async train(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
    { onEpoch, layer = 0, layers = 1, startEpoch = 1 }: {
      onEpoch?: EpochCallback;
      layer?: number;
      layers?: number;
      startEpoch?: number;
    } = {},
  ): Promise<[tf.Tensor2D, tf.Tensor2D]> {
    const numPositive = xPositive.shape[0];
    // The input does not change while the layer trains: normalise it once, not every epoch.
    const x = this.#normalizedInput(xPositive, xNegative);
    if (startEpoch === 1) this.losses = [];
    try {
      await checkFiniteAsync({ xPositive, xNegative });
      const { epochs, learningRate } = this.options;
      let silentChecks = 0;
      for (let epoch = startEpoch; epoch <= epochs; epoch++) {
        const checkSilent = epoch % DEAD_CHECK_EVERY === 0;
        const [loss, active] = tf.tidy(() => {
          const { loss, h } = this.#update(x, numPositive);
          return [loss, checkSilent ? tf.max(h) : tf.scalar(1)];
        });
        const [value, activity] = [(await loss.data())[0], (await active.data())[0]];
        tf.dispose([loss, active]);
        if (!Number.isFinite(value)) {
          throw new TrainingDiverged(
            layer,
            epoch,
            value,
            likelySetting(this.options, this.outFeatures),
          );
        }
        this.losses.push(value);
        if (checkSilent) silentChecks = activity > 0 ? 0 : silentChecks + 1;
        const warning = checkSilent && silentChecks === 2
          ? silentLayer(layer, epoch, learningRate)
          : undefined;
        await onEpoch?.({ layer, layers, epoch, epochs, loss: value, ...warning && { warning } });
      }
      return tf.tidy(() => splitRows(this.#affine(x, "relu"), numPositive));
    } finally {
      x.dispose();
    }
  }

  /**
   * One update on a mini-batch of positive and negative data, its learning rate times `scale`.
   * Returns the batch's loss and the layer's outputs on it, computed in the same forward pass,
   * before the update; with `dropout`, those outputs had that fraction of units zeroed (the rest
   * scaled up to match), in the goodness as in what the next layer sees.
   *
   * Inputs holding NaN or Infinity are refused, at the cost of one reduction and a read per
   * call; `inputsChecked` skips that for a caller that checked its data once already, as
   * {@linkcode FFNN.trainMiniBatch} does.
   */
  step(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
    { scale = 1, dropout, inputsChecked = false }: {
      scale?: number;
      dropout?: { rate: number; seed: number };
      inputsChecked?: boolean;
    } = {},
  ): { loss: tf.Scalar; hPositive: tf.Tensor2D; hNegative: tf.Tensor2D } {
    const numPositive = xPositive.shape[0];
    if (!inputsChecked) {
      this.#checkInput(xPositive);
      this.#checkInput(xNegative);
      checkFinite({ xPositive, xNegative });
    }
    return tf.tidy(() => {
      const x = this.#normalizedInput(xPositive, xNegative);
      const { loss, h } = this.#update(x, numPositive, scale, dropout);
      const [hPositive, hNegative] = splitRows(h, numPositive);
      return { loss, hPositive, hNegative };
    });
  }

  /** The loss and its gradients for W and b (what `loss.backward()` leaves in `.grad`). */
  gradients(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
  ): { loss: tf.Scalar; weight: tf.Tensor2D; bias: tf.Tensor1D } {
    return tf.tidy(() => {
      const x = this.#normalizedInput(xPositive, xNegative);
      const { loss, dz } = this.#lossGradient(x, xPositive.shape[0]);
      const [weight, bias] = this.#parameterGradients(dz, x);
      return { loss, weight, bias };
    });
  }

  /** x̂Wᵀ + b for rows x̂ already normalised, before the relu. */
  linear(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.#affine(x, "linear"));
  }

  /**
   * The weights of every unit on input `column`, [out, 1]: a column of `weight` for a dense
   * layer; for a local one, of the dense weight it stands for (0 where a patch leaves it out).
   */
  inputColumn(column: number): tf.Tensor2D {
    return tf.tidy(() =>
      this.local
        ? localColumn(this.weight, this.local, column)
        : tf.slice(this.weight, [0, column], [-1, 1])
    );
  }

  /** Every variable the layer trains or keeps: parameters, then optimiser and peer state. */
  get variables(): tf.Variable[] {
    return [this.weight, this.bias, ...this.optimizer.slots, ...[this.meanActivity ?? []].flat()];
  }

  /** Frees the layer's weights and optimiser state. */
  dispose(): void {
    tf.dispose(this.variables);
  }

  #checkInput(x: tf.Tensor): void {
    checkBackend();
    if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      const got = x instanceof tf.Tensor ? JSON.stringify(x.shape) : typeof x;
      throw new Error(
        `this layer takes rows of ${this.inFeatures} values (inFeatures), got ${got}: ` +
          `build it with inFeatures equal to the data's width`,
      );
    }
  }

  #normalizedInput(xPositive: tf.Tensor2D, xNegative: tf.Tensor2D): tf.Tensor2D {
    this.#checkInput(xPositive);
    this.#checkInput(xNegative);
    return tf.tidy(() =>
      normalizeRows(tf.concat2d([xPositive, xNegative], 0), this.options.normalize)
    );
  }

  /**
   * x̂Wᵀ + b, then `activation`, for rows x̂ already normalised: one fused product, or a local
   * layer's product.
   */
  #affine(x: tf.Tensor2D, activation: "relu" | "linear"): tf.Tensor2D {
    if (this.local) return localAffine(x, this.weight, this.bias, this.local, activation);
    return tf.fused.matMul({
      a: x,
      b: this.weight,
      transposeB: true,
      bias: this.bias,
      activation,
    }) as tf.Tensor2D;
  }

  /** z and the loss's gradient with respect to it, peer normalisation's term included. */
  #lossGradient(
    x: tf.Tensor2D,
    numPositive: number,
    dropout?: { rate: number; seed: number },
  ): { loss: tf.Scalar; h: tf.Tensor2D; dz: tf.Tensor2D } {
    const { threshold, goodness: kind, peerNormalization } = this.options;
    let z = this.#affine(x, "linear");
    // Dropout before the relu: relu(z)·mask/(1-rate) = relu(z·mask/(1-rate)).
    const keep = dropout && dropoutMask(z.shape, dropout.rate, dropout.seed);
    if (keep) z = tf.mul(z, keep);
    const peer = this.meanActivity &&
      { meanActivity: this.meanActivity, coefficient: peerNormalization };
    let { loss, dz, h, meanActivity } = ffLossAndGradient(z, numPositive, threshold, kind, peer);
    if (meanActivity) this.meanActivity!.assign(meanActivity);
    if (keep) dz = tf.mul(dz, keep);
    return { loss, h, dz };
  }

  /** ∂loss/∂W = dzᵀx̂ (a local layer's: location by location) and ∂loss/∂b = Σ rows of dz. */
  #parameterGradients(dz: tf.Tensor2D, x: tf.Tensor2D): [tf.Tensor2D, tf.Tensor1D] {
    const weight: tf.Tensor2D = this.local
      ? localWeightGradient(dz, x, this.local)
      : tf.matMul(dz, x, true, false);
    return [weight, tf.sum(dz, 0)];
  }

  /** One optimiser step on normalised rows x̂; returns the loss and relu(z) from before it. */
  #update(
    x: tf.Tensor2D,
    numPositive: number,
    scale = 1,
    dropout?: { rate: number; seed: number },
  ): { loss: tf.Scalar; h: tf.Tensor2D } {
    const { loss, h, dz } = this.#lossGradient(x, numPositive, dropout);
    this.optimizer.step(this.#parameterGradients(dz, x), scale);
    return { loss, h };
  }
}

/** The warning for a layer none of whose units fires on any training input. */
export function silentLayer(layer: number, epoch: number, learningRate: number): string {
  return `layer ${layer + 1}: no unit is active on any training input (epoch ${epoch}), so it ` +
    `has stopped learning: lower learningRate (now ${learningRate})`;
}

/** 1/(1-rate) where a unit is kept, 0 where dropped, seeded. */
function dropoutMask(shape: [number, number], rate: number, seed: number): tf.Tensor2D {
  // Drawn by our own generator, not tf.randomUniform: its seeded stream costs ~45 ms per
  // 200 × 1000 mask here, most of an epoch's time in Hinton's recipe with dropout. The draws
  // are seededRandom(seed)'s, compared as integers (u / 2³² >= rate exactly when u >= rate·2³²):
  // without a closure call and a division per unit the mask takes half the time.
  const cut = rate * 4294967296;
  let state = Math.trunc(seed) >>> 0;
  const keep = new Float32Array(shape[0] * shape[1]);
  for (let i = 0; i < keep.length; i++) {
    state = (state + MULBERRY32_STEP) >>> 0;
    keep[i] = mulberry32(state) >= cut ? 1 / (1 - rate) : 0;
  }
  return tf.tensor2d(keep, shape);
}

/** Every option a {@linkcode Layer} knows. */
export const LAYER_OPTIONS: readonly (keyof LayerOptions)[] = [
  "goodness",
  "threshold",
  "normalize",
  "optimizer",
  "learningRate",
  "momentum",
  "weightDecay",
  "peerNormalization",
  "init",
  "epochs",
  "seed",
  "weight",
  "bias",
  "local",
];

/** A local geometry that fits the layer: every patch as long, inside the input, units agreeing. */
function checkLocal(local: LocalGeometry, inFeatures: number, outFeatures: number): void {
  const { patches, channels } = local;
  const perUnit = patches?.[0]?.length;
  const fits = Array.isArray(patches) && perUnit > 0 && Number.isInteger(channels) &&
    patches.length * channels === outFeatures &&
    patches.every((inputs) =>
      inputs.length === perUnit &&
      inputs.every((i) => Number.isInteger(i) && i >= 0 && i < inFeatures)
    );
  if (!fits) {
    throw new Error(
      `local must give every location (patches) the same number of inputs, each below ` +
        `inFeatures (${inFeatures}), and make outFeatures (${outFeatures}) as locations × ` +
        `channels: build it with localGeometries`,
    );
  }
}

function checkOptions(
  options: Required<Omit<LayerOptions, "weight" | "bias" | "local">>,
): void {
  checkRange("threshold", options.threshold, { min: 0 });
  checkRange("learningRate", options.learningRate, { min: 0 });
  checkRange("momentum", options.momentum, { min: 0, below: 1 });
  checkRange("weightDecay", options.weightDecay, { min: 0 });
  checkRange("peerNormalization", options.peerNormalization, { min: 0 });
  checkRange("seed", options.seed, {});
  const choices = {
    goodness: ["mean", "sum"],
    normalize: ["l2", "rms"],
    optimizer: ["adam", "sgd"],
    init: ["uniform", "normal"],
  } as const;
  for (const [name, allowed] of Object.entries(choices)) {
    const value = options[name as keyof typeof choices];
    if (!(allowed as readonly string[]).includes(value)) {
      throw new Error(`${name} must be one of ${allowed.join(", ")}, got "${value}"`);
    }
  }
  if (!Number.isInteger(options.epochs) || options.epochs < 0) {
    throw new Error(`epochs must be a non-negative integer, got ${options.epochs}`);
  }
}

function initialWeights(
  inFeatures: number,
  outFeatures: number,
  { init, seed }: { init: "uniform" | "normal"; seed: number },
  given: LayerOptions,
): [tf.Tensor2D, tf.Tensor1D] {
  const bound = 1 / Math.sqrt(inFeatures);
  const count = inFeatures * outFeatures;
  // One seed, two streams: the weight's and the bias's draws must not overlap.
  const weight = given.weight ??
    (init === "normal" ? normal(count, bound, seed) : uniform(count, -bound, bound, seed));
  const bias = given.bias ??
    (init === "normal"
      ? new Float32Array(outFeatures)
      : uniform(outFeatures, -bound, bound, seed + 0x9e3779b9));
  return [
    asTensor(weight, [outFeatures, inFeatures], "weight") as tf.Tensor2D,
    asTensor(bias, [outFeatures], "bias") as tf.Tensor1D,
  ];
}

function asTensor(
  values: number[][] | number[] | Float32Array | tf.Tensor,
  shape: number[],
  name: string,
): tf.Tensor {
  return tf.tidy(() => {
    const tensor = values instanceof tf.Tensor
      ? values
      : values instanceof Float32Array
      ? tf.tensor(values, shape)
      : tf.tensor(values);
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

/** The positive rows (the first `numPositive`) and the negative rows of h. */
function splitRows(h: tf.Tensor2D, numPositive: number): [tf.Tensor2D, tf.Tensor2D] {
  const [rows, width] = h.shape;
  return [
    tf.slice2d(h, [0, 0], [numPositive, width]),
    tf.slice2d(h, [numPositive, 0], [rows - numPositive, width]),
  ];
}
