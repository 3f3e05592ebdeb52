/**
 * The paper's recurrent, top-down Forward-Forward network (Hinton 2022, §3.4): a static image
 * treated as a "boring video". Pixels sit at the bottom, the label (one-hot) at the top, hidden
 * layers in between; every hidden layer's state at step t comes from the normalised states of
 * the layer below and the layer above at step t - 1:
 *
 *   computedᵢ(t) = relu([x̂ᵢ₋₁(t-1), x̂ᵢ₊₁(t-1)] Wᵢᵀ + bᵢ)
 *   stateᵢ(t)   = damping · stateᵢ(t-1) + (1 - damping) · computedᵢ(t)
 *
 * all layers at once (synchronous), damping 0.3 as in the paper. One bottom-up pass, in which
 * nothing comes from above, gives the states at step 0; then `iterations` (8) steps follow.
 *
 * Choices where the paper is silent:
 * - A layer's goodness at step t is that of `computedᵢ(t)`, what its own weights made of the
 *   states at t - 1, so that its gradient is the ordinary FF gradient of one layer
 *   ({@linkcode ffLossAndGradient}) with the states at t - 1 as constant input: no gradient
 *   crosses layers or steps (no backpropagation through time).
 * - Every step 1 to `iterations` trains: each layer's loss on a mini-batch is the mean of its FF
 *   loss over the steps, the states computed with the weights as they were at the batch's
 *   start; one optimiser step per layer and batch follows.
 * - The hard negatives' "one forward pass" is the bottom-up pass (which has not yet seen the
 *   label): a softmax readout on its normalised states (Hinton's readout,
 *   {@linkcode SoftmaxReadout}) gives the class probabilities a wrong label is drawn from.
 * - The label at the top is a one-hot as long as a normalised state of the top hidden layer
 *   (`labelLength`: √width with RMS normalisation, 1 with L2), so that the top layer hears the
 *   label as loudly as the layer below it. Normalised like a state of its own (√10 with RMS), it
 *   was 2% of the top layer's input, and the goodness test learned far more slowly. Measured on
 *   `recurrent-quick` (500 + 500; 2,000 test images): at 10,000 images × 5 epochs, 11.3% test
 *   error by goodness (softmax readout 9.4%) with √10, 7.3% (softmax 6.9%) with √500; with
 *   seed 7, 11.8% (7.2%) against 7.2% (7.0%). At 5,000 images × 2 epochs, 51.2% with √10
 *   against 20.2%, 15.0%, 16.9%, 22.7% with the entry at 9.5, 15.8, 22.1, 44.3.
 * - The test runs the steps with each label at the top and scores a label by the goodness summed
 *   over all hidden layers (readout "goodness"; "goodness-skip-first" leaves the first out),
 *   averaged over steps 3 to 5 (`testIterations`). Steps after the last of these cannot change
 *   the score, so prediction stops there.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { checkBackend, checkFinite, checkFiniteValues, checkNames, checkRange } from "./check.ts";
import { labelArray, type Labels, negativeLabels } from "./data.ts";
import { ffLossAndGradient, goodness } from "./goodness.ts";
import {
  Layer,
  LAYER_OPTIONS,
  type LayerOptions,
  likelySetting,
  normalizeRows,
  TrainingDiverged,
} from "./layer.ts";
import {
  asTrained,
  type FFNN,
  type MiniBatchOptions,
  type PixelStats,
  type Readout,
} from "./network.ts";
import { cooldown } from "./optim.ts";
import { deriveSeed, randperm } from "./random.ts";
import { READOUT_OPTIONS, type ReadoutOptions, SoftmaxReadout } from "./readout.ts";

/** Options of a {@linkcode RecurrentFF}: every {@linkcode LayerOptions} applies to each layer. */
export interface RecurrentOptions
  extends Omit<LayerOptions, "weight" | "bias" | "epochs" | "local"> {
  /** Labels at the top. Default 10. */
  numClasses?: number;
  /** Synchronous steps after the bottom-up pass. Default 8 (the paper). */
  iterations?: number;
  /** The share of the old state each step keeps. Default 0.3 (the paper). */
  damping?: number;
  /** First and last step (1-based, inclusive) whose goodness the test averages. Default [3, 5]. */
  testIterations?: [number, number];
  /**
   * The length of the label's one-hot at the top (the value of its one entry). Default: the
   * length of a normalised state of the top hidden layer, √width (RMS normalisation) or 1 (L2).
   */
  labelLength?: number;
  /** The softmax readout on the bottom-up pass's states, for hard negatives. Default: none. */
  readout?: ReadoutOptions;
  /** As {@linkcode FFNNOptions.pixels}: how the images asked about were scaled, if not as trained. */
  pixels?: { given: PixelStats; trained: PixelStats };
}

const RECURRENT_OPTIONS = [
  ...LAYER_OPTIONS.filter((name) => !["weight", "bias", "epochs"].includes(name)),
  "numClasses",
  "iterations",
  "damping",
  "testIterations",
  "labelLength",
  "readout",
  "pixels",
];

const MINI_BATCH_OPTIONS: readonly (keyof MiniBatchOptions)[] = [
  "batchSize",
  "epochs",
  "negatives",
  "seed",
  "cooldown",
  "shift",
  "dropout",
  "startEpoch",
  "onEpoch",
];

/**
 * The recurrent network: `dims` are the image width, then each hidden layer's; the label is the
 * top layer. Hidden layer i is a {@linkcode Layer} whose input is the normalised state below and
 * the normalised state above side by side (its weight [width, below + above]: the bottom-up and
 * top-down weights).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { RecurrentFF } from "./recurrent.ts";
 * const x = tf.randomUniform([20, 6], 0, 1, "float32", 1) as tf.Tensor2D;
 * const y = Array.from({ length: 20 }, (_, i) => i % 3);
 * const net = new RecurrentFF([6, 8, 8], { numClasses: 3, iterations: 4, testIterations: [2, 3] });
 * await net.trainMiniBatch(x, y, { batchSize: 10, epochs: 2, negatives: "wrong" });
 * assertEquals(net.losses.map((losses) => losses.length), [2, 2]); // per layer, per epoch
 * assertEquals(net.predict(x).shape, [20]); // a label per image
 * net.dispose();
 * ```
 */
export class RecurrentFF {
  readonly dims: number[];
  readonly layers: Layer[];
  readonly numClasses: number;
  readonly iterations: number;
  readonly damping: number;
  readonly testIterations: [number, number];
  /** The length of the label's one-hot at the top. */
  readonly labelLength: number;
  readonly readout?: SoftmaxReadout;
  /** Every option the network was built with, for saving and resuming. */
  readonly options: Readonly<RecurrentOptions>;

  constructor(dims: number[], options: RecurrentOptions = {}) {
    if (
      !Array.isArray(dims) || dims.length < 2 || !dims.every((d) => Number.isInteger(d) && d > 0)
    ) {
      throw new Error(
        `dims must list at least two positive integers (image width, then each hidden ` +
          `layer's width), got ${JSON.stringify(dims)}`,
      );
    }
    checkNames(options, RECURRENT_OPTIONS, "option");
    const {
      numClasses = 10,
      iterations = 8,
      damping = 0.3,
      testIterations = [3, 5],
      labelLength,
      readout,
      pixels,
      seed = 0,
      ...shared
    } = options;
    if (!Number.isInteger(numClasses) || numClasses < 2) {
      throw new Error(`numClasses must be an integer >= 2, got ${numClasses}`);
    }
    if (!Number.isInteger(iterations) || iterations < 1) {
      throw new Error(`iterations must be a positive integer, got ${iterations}`);
    }
    checkRange("damping", damping, { min: 0, below: 1 });
    const [first, last] = Array.isArray(testIterations) ? testIterations : [NaN, NaN];
    if (
      !Number.isInteger(first) || !Number.isInteger(last) || first < 1 || last < first ||
      last > iterations
    ) {
      throw new Error(
        `testIterations must be [first, last] steps with 1 <= first <= last <= iterations ` +
          `(${iterations}), got ${JSON.stringify(testIterations)}`,
      );
    }
    if (readout) {
      checkNames(readout, READOUT_OPTIONS, "readout option");
      SoftmaxReadout.checkOptions(readout, "readout.");
    }
    for (const side of ["given", "trained"] as const) {
      if (!pixels) break;
      checkRange(`pixels.${side}.mean`, pixels[side]?.mean, {});
      checkRange(`pixels.${side}.std`, pixels[side]?.std, { min: Number.MIN_VALUE });
    }
    if (labelLength !== undefined) {
      checkRange("labelLength", labelLength, { min: Number.MIN_VALUE });
    }
    this.dims = [...dims];
    this.numClasses = numClasses;
    this.iterations = iterations;
    this.damping = damping;
    this.testIterations = [first, last];
    this.layers = [];
    const widths = [...dims, numClasses];
    try {
      for (let i = 1; i < dims.length; i++) {
        const input = widths[i - 1] + widths[i + 1];
        this.layers.push(new Layer(input, widths[i], { ...shared, seed: seed + i - 1 }));
      }
      if (readout) this.readout = new SoftmaxReadout(dims.slice(1), numClasses, readout);
    } catch (e) {
      this.dispose();
      throw e;
    }
    // As long as a normalised state of the top hidden layer: a mean square of 1 (RMS) or length 1.
    this.labelLength = labelLength ??
      (this.#normalize === "rms" ? Math.sqrt(dims[dims.length - 1]) : 1);
    // The step settings are kept filled in: they tell a saved network from an FFNN.
    this.options = {
      ...options,
      iterations,
      damping,
      testIterations: [first, last],
      labelLength: this.labelLength,
    };
  }

  /** The width of the images this network takes. */
  get imageWidth(): number {
    return this.dims[0];
  }

  /**
   * The hidden states after the bottom-up pass (index 0) and after each of `iterations` steps,
   * with `labels` at the top: [step][layer], each [n, width]. The caller disposes them.
   */
  settle(x: tf.Tensor2D, labels: Labels, iterations = this.iterations): tf.Tensor2D[][] {
    return tf.tidy(() => {
      const images = this.#asked(x);
      const top = this.#top(labelArray(labels, images.shape[0], this.numClasses));
      const bottom = normalizeRows(images, this.#normalize);
      const states = [this.#bottomUp(images)];
      for (let t = 1; t <= iterations; t++) {
        states.push(this.#step(bottom, top, states[t - 1]).next);
      }
      return states;
    });
  }

  /**
   * Goodness with each label at the top, summed over the hidden layers (all, or with `skipFirst`
   * all but the first), at every step 1 to `iterations`: [n, numClasses, iterations].
   */
  goodnessPerIteration(
    x: tf.Tensor2D,
    { iterations = this.iterations, skipFirst = false }: {
      iterations?: number;
      skipFirst?: boolean;
    } = {},
  ): tf.Tensor3D {
    return tf.tidy(() =>
      this.#goodness(this.#asked(x), iterations, [!skipFirst, skipFirst])[skipFirst ? 1 : 0]!
    );
  }

  /**
   * The test's score of each label, [n, numClasses]: goodness summed over the hidden layers (all,
   * or with `skipFirst` all but the first), averaged over steps `testIterations`.
   */
  goodnessPerLabel(
    x: tf.Tensor2D,
    { skipFirst = false }: { skipFirst?: boolean } = {},
  ): tf.Tensor2D {
    return tf.tidy(() => {
      const wanted: [boolean, boolean] = [!skipFirst, skipFirst];
      const perStep = this.#goodness(this.#asked(x), this.testIterations[1], wanted);
      return this.#testScores(perStep[skipFirst ? 1 : 0]!);
    });
  }

  /** The label each image gets, [n] int32, by goodness (the paper's test) or another readout. */
  predict(x: tf.Tensor2D, { readout = "goodness" }: { readout?: Readout } = {}): tf.Tensor1D {
    return this.predictEach(x, [readout])[readout]!;
  }

  /** {@linkcode RecurrentFF.predict} by several readouts at once, sharing the goodness passes. */
  predictEach(
    x: tf.Tensor2D,
    readouts: readonly Readout[] = this.readouts,
  ): Partial<Record<Readout, tf.Tensor1D>> {
    for (const readout of readouts) {
      if (!this.readouts.includes(readout)) {
        throw new Error(
          `readout must be one of ${this.readouts.join(", ")} for this network, got "${readout}"`,
        );
      }
    }
    return tf.tidy(() => {
      const images = this.#asked(x);
      const out: Partial<Record<Readout, tf.Tensor1D>> = {};
      const wanted: [boolean, boolean] = [
        readouts.includes("goodness"),
        readouts.includes("goodness-skip-first"),
      ];
      if (wanted[0] || wanted[1]) {
        const [all, skipped] = this.#goodness(images, this.testIterations[1], wanted);
        if (all) out.goodness = tf.argMax(this.#testScores(all), 1);
        if (skipped) out["goodness-skip-first"] = tf.argMax(this.#testScores(skipped), 1);
      }
      if (readouts.includes("softmax")) {
        out.softmax = tf.argMax(this.readout!.logits(this.#readoutStates(images)), 1);
      }
      return out as Record<string, tf.Tensor1D>;
    });
  }

  /** The readouts this network can predict with. */
  get readouts(): Readout[] {
    return [
      "goodness" as const,
      ...(this.layers.length > 1 ? ["goodness-skip-first" as const] : []),
      ...(this.readout ? ["softmax" as const] : []),
    ];
  }

  /**
   * Each layer's loss (the mean over the steps of its FF loss) and gradients for its weight and
   * bias on a batch of images with the positive labels and with the negative ones at the top,
   * each layer's input at every step held constant: what {@linkcode RecurrentFF.step} applies.
   */
  gradients(
    x: tf.Tensor2D,
    yPositive: Labels,
    yNegative: Labels,
  ): { loss: tf.Scalar; weight: tf.Tensor2D; bias: tf.Tensor1D }[] {
    return tf.tidy(() => {
      this.#checkTraining(x);
      const { losses, gradients } = this.#lossAndGradients(x, yPositive, yNegative);
      return gradients.map(([weight, bias], i) => ({ loss: losses[i], weight, bias }));
    });
  }

  /**
   * One update of every layer on a batch of images, with the positive and the negative labels
   * at the top, its learning rate times `scale`; returns each layer's loss, [layers].
   */
  step(x: tf.Tensor2D, yPositive: Labels, yNegative: Labels, { scale = 1 } = {}): tf.Tensor1D {
    this.#checkTraining(x);
    return this.#update(x, yPositive, yNegative, scale);
  }

  #update(x: tf.Tensor2D, yPositive: Labels, yNegative: Labels, scale: number): tf.Tensor1D {
    return tf.tidy(() => {
      const peer = this.layers.map((layer) => layer.meanActivity);
      const { losses, gradients, meanActivity } = this.#lossAndGradients(
        x,
        yPositive,
        yNegative,
        peer,
      );
      this.layers.forEach((layer, i) => {
        layer.optimizer.step(gradients[i], scale);
        if (meanActivity[i]) layer.meanActivity!.assign(meanActivity[i]!);
      });
      return tf.stack(losses) as tf.Tensor1D;
    });
  }

  /**
   * Training on mini-batches, as {@linkcode FFNN.trainMiniBatch}: each epoch shuffles the images
   * and draws fresh negative labels (with `negatives: "hard"`, from the readout's scores on the
   * bottom-up pass, per batch, before the readout's own step). `shift` and `dropout` are not
   * supported (0).
   */
  async trainMiniBatch(x: tf.Tensor2D, y: Labels, options: MiniBatchOptions): Promise<void> {
    checkNames(options, MINI_BATCH_OPTIONS, "trainMiniBatch option");
    const {
      batchSize,
      epochs,
      negatives = "permute",
      seed = 0,
      shift = 0,
      dropout = 0,
      startEpoch = 1,
      onEpoch,
    } = options;
    this.#checkImages(x, "x");
    const rows = x.shape[0];
    const given = y instanceof tf.Tensor && y.rank === 1 ? await y.data() : y;
    const labels = labelArray(given, rows, this.numClasses);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isInteger(epochs) || epochs < 0) {
      throw new Error(`epochs must be a non-negative integer, got ${epochs}`);
    }
    if (shift !== 0 || dropout !== 0) {
      throw new Error(
        `${
          shift !== 0 ? "shift" : "dropout"
        } is not supported by the recurrent network: set it to 0`,
      );
    }
    checkRange("seed", seed, {});
    if (!["permute", "wrong", "hard"].includes(negatives)) {
      throw new Error(`negatives must be "permute", "wrong" or "hard", got "${negatives}"`);
    }
    if (negatives === "hard" && !this.readout) {
      throw new Error(
        'negatives "hard" are drawn from the softmax readout\'s scores: build the network with ' +
          'a readout, or use negatives "permute" or "wrong"',
      );
    }
    const images = await x.data() as Float32Array;
    checkFiniteValues("x", images);
    const pixels = x.shape[1];
    if (startEpoch === 1) { for (const layer of this.layers) layer.losses = []; }
    for (let epoch = startEpoch; epoch <= epochs; epoch++) {
      const scale = options.cooldown ? cooldown(epoch, epochs) : 1;
      const order = randperm(rows, deriveSeed(seed, epoch, 1));
      const drawn = negatives === "hard" ? undefined : negativeLabels(labels, {
        mode: negatives as "permute" | "wrong", // checked above
        seed: deriveSeed(seed, epoch, 2),
        numClasses: this.numClasses,
      });
      let sums = tf.zeros([this.layers.length]);
      let batches = 0;
      for (let start = 0; start < rows; start += batchSize, batches++) {
        const batch = order.subarray(start, Math.min(start + batchSize, rows));
        const picked = new Float32Array(batch.length * pixels);
        batch.forEach((row, i) =>
          picked.set(images.subarray(row * pixels, (row + 1) * pixels), i * pixels)
        );
        const xBatch = tf.tensor2d(picked, [batch.length, pixels]);
        const yBatch = Int32Array.from(batch, (row) => labels[row]);
        try {
          const yNegative = await this.#readoutStep(
            xBatch,
            yBatch,
            scale,
            negatives === "hard",
            deriveSeed(seed, epoch, 4, batches),
          ) ?? Int32Array.from(batch, (row) => drawn![row]);
          // No label is drawn (-1) from scores gone NaN: the weights have overflowed.
          if (yNegative.includes(-1)) {
            sums.dispose();
            throw this.#diverged(epoch, NaN, 0);
          }
          const losses = this.#update(xBatch, yBatch, yNegative, scale);
          const next = tf.add(sums, losses);
          tf.dispose([sums, losses]);
          sums = next;
        } finally {
          xBatch.dispose();
        }
      }
      const means = Array.from(await sums.data(), (sum) => sum / batches);
      sums.dispose();
      const bad = means.findIndex((loss) => !Number.isFinite(loss));
      if (bad >= 0) throw this.#diverged(epoch, means[bad], bad);
      means.forEach((loss, i) => this.layers[i].losses.push(loss));
      const loss = means.reduce((a, b) => a + b) / means.length;
      await onEpoch?.({ layer: 0, layers: 1, epoch, epochs, loss, losses: means });
    }
  }

  /** The losses of every layer's last training, one array per layer. */
  get losses(): number[][] {
    return this.layers.map((layer) => layer.losses);
  }

  /** Every variable of the network, layer after layer, then the readout's. */
  get variables(): tf.Variable[] {
    return [...this.layers.flatMap((layer) => layer.variables), ...(this.readout?.variables ?? [])];
  }

  /** Frees every layer and the readout. */
  dispose(): void {
    for (const layer of this.layers) layer.dispose();
    this.readout?.dispose();
  }

  /** The label layer: one-hot rows of length `labelLength`. */
  #top(labels: Int32Array): tf.Tensor2D {
    const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), this.numClasses);
    return tf.mul(tf.cast(oneHot, "float32"), this.labelLength) as tf.Tensor2D;
  }

  get #normalize() {
    return this.layers[0].options.normalize;
  }

  /** The states at step 0: one pass up from the pixels, nothing from above yet. */
  #bottomUp(images: tf.Tensor2D): tf.Tensor2D[] {
    const rows = images.shape[0];
    const widths = [...this.dims, this.numClasses];
    let below = normalizeRows(images, this.#normalize);
    return this.layers.map((layer, i) => {
      const input = tf.concat2d([below, tf.zeros([rows, widths[i + 2]])], 1);
      const h = affine(layer, input, "relu");
      below = normalizeRows(h, this.#normalize);
      return h;
    });
  }

  /**
   * One synchronous, damped step from `states` (step t - 1): each layer's input (the normalised
   * states below and above, side by side), its pre-activation z, and the states at step t.
   */
  #step(
    bottom: tf.Tensor2D,
    top: tf.Tensor2D,
    states: tf.Tensor2D[],
  ): { inputs: tf.Tensor2D[]; z: tf.Tensor2D[]; next: tf.Tensor2D[] } {
    const normalized = [bottom, ...states.map((s) => normalizeRows(s, this.#normalize)), top];
    const inputs = this.layers.map((_, i) => tf.concat2d([normalized[i], normalized[i + 2]], 1));
    const z = this.layers.map((layer, i) => affine(layer, inputs[i], "linear"));
    const next = z.map((zi, i) =>
      tf.add(tf.mul(states[i], this.damping), tf.mul(tf.relu(zi), 1 - this.damping))
    ) as tf.Tensor2D[];
    return { inputs, z, next };
  }

  /**
   * The losses and gradients of a batch (see {@linkcode RecurrentFF.gradients}): positive and
   * negative rows settle together, the negative rows after the positive ones.
   */
  #lossAndGradients(
    images: tf.Tensor2D,
    yPositive: Labels,
    yNegative: Labels,
    peer: (tf.Tensor1D | undefined)[] = [],
  ): {
    losses: tf.Scalar[];
    gradients: [tf.Tensor2D, tf.Tensor1D][];
    meanActivity: (tf.Tensor1D | undefined)[];
  } {
    const rows = images.shape[0];
    const positive = labelArray(yPositive, rows, this.numClasses);
    const negative = labelArray(yNegative, rows, this.numClasses);
    const bottom = normalizeRows(tf.concat2d([images, images], 0), this.#normalize);
    const top = this.#top(Int32Array.from([...positive, ...negative]));
    // The bottom-up pass does not see the label: computed once, for both halves.
    let states = this.#bottomUp(images).map((s) => tf.concat2d([s, s], 0));
    let losses: tf.Scalar[] = this.layers.map(() => tf.scalar(0));
    let gradients = this.layers.map((layer) =>
      [tf.zerosLike(layer.weight), tf.zerosLike(layer.bias)] as [tf.Tensor2D, tf.Tensor1D]
    );
    let meanActivity = [...peer];
    for (let t = 1; t <= this.iterations; t++) {
      // One scope per step: the steps' products would otherwise all live until the batch ends.
      const done = tf.tidy(() => {
        const { inputs, z, next } = this.#step(bottom, top, states);
        const out = this.layers.map((layer, i) => {
          const { threshold, goodness: kind, peerNormalization } = layer.options;
          const m = meanActivity[i];
          const result = ffLossAndGradient(
            z[i],
            rows,
            threshold,
            kind,
            m && { meanActivity: m, coefficient: peerNormalization },
          );
          const dz = tf.div(result.dz, this.iterations) as tf.Tensor2D;
          return {
            loss: tf.add(losses[i], tf.div(result.loss, this.iterations)) as tf.Scalar,
            gradient: [
              tf.add(gradients[i][0], tf.matMul(dz, inputs[i], true, false)),
              tf.add(gradients[i][1], tf.sum(dz, 0)),
            ] as [tf.Tensor2D, tf.Tensor1D],
            meanActivity: result.meanActivity,
          };
        });
        return { next, out };
      });
      // The previous step's values (but not the caller's running means) are spent.
      tf.dispose([
        ...states,
        ...losses,
        ...gradients.flat(),
        ...meanActivity.filter((m, i) => m !== peer[i]) as tf.Tensor[],
      ]);
      states = done.next;
      losses = done.out.map((o) => o.loss);
      gradients = done.out.map((o) => o.gradient);
      meanActivity = done.out.map((o) => o.meanActivity);
    }
    tf.dispose(states);
    return { losses, gradients, meanActivity };
  }

  /**
   * Goodness per label and step, [n, numClasses, iterations], summed over all hidden layers and
   * over all but the first, as wanted. The bottom-up pass is shared by all labels.
   */
  #goodness(
    images: tf.Tensor2D,
    iterations: number,
    [wantAll, wantSkipped]: [boolean, boolean],
  ): [tf.Tensor3D?, tf.Tensor3D?] {
    const rows = images.shape[0];
    const start = this.#bottomUp(images);
    const bottom = normalizeRows(images, this.#normalize);
    // One label at a time, and one scope per step: all at once would hold numClasses ×
    // iterations sets of activations.
    const perLabel = Array.from({ length: this.numClasses }, (_, label) => {
      const top = this.#top(new Int32Array(rows).fill(label));
      let states = start;
      const all: tf.Tensor1D[] = [];
      const skipped: tf.Tensor1D[] = [];
      for (let t = 1; t <= iterations; t++) {
        const [next, first, rest] = tf.tidy(() => {
          const { z, next } = this.#step(bottom, top, states);
          const g = z.map((zi, i) => goodness(tf.relu(zi), this.layers[i].options.goodness));
          return [next, g[0], g.length > 1 ? tf.addN(g.slice(1)) : tf.zeros([rows])] as const;
        });
        if (states !== start) tf.dispose(states);
        states = next;
        all.push(tf.add(first, rest));
        skipped.push(rest as tf.Tensor1D);
        first.dispose();
      }
      if (states !== start) tf.dispose(states);
      top.dispose();
      const pair = [
        wantAll ? tf.stack(all, 1) : undefined,
        wantSkipped ? tf.stack(skipped, 1) : undefined,
      ];
      tf.dispose([...all, ...skipped]);
      return pair;
    });
    try {
      const stack = (k: number) => tf.stack(perLabel.map((pair) => pair[k]!), 1) as tf.Tensor3D;
      return [wantAll ? stack(0) : undefined, wantSkipped ? stack(1) : undefined];
    } finally {
      tf.dispose([...perLabel.flat().filter((t) => t !== undefined), ...start, bottom]);
    }
  }

  /**
   * Each label's score from goodness per step ({@linkcode RecurrentFF.goodnessPerIteration}'s
   * [n, numClasses, steps]): its mean over steps `first` to `last` (1-based, inclusive),
   * [n, numClasses]. The test averages `testIterations`; other ranges show what that choice does.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { tf } from "./deps.ts";
   * import { RecurrentFF } from "./recurrent.ts";
   * const perStep = tf.tensor3d([[[1, 2, 3, 4], [4, 4, 0, 0]]]); // an image, 2 labels, 4 steps
   * assertEquals(RecurrentFF.meanOverSteps(perStep, [2, 3]).arraySync(), [[2.5, 2]]);
   * ```
   */
  static meanOverSteps(perStep: tf.Tensor3D, [first, last]: [number, number]): tf.Tensor2D {
    const steps = perStep.shape[2];
    if (
      !Number.isInteger(first) || !Number.isInteger(last) || first < 1 || last < first ||
      last > steps
    ) {
      throw new Error(
        `steps must be [first, last] with 1 <= first <= last <= ${steps} (the steps given), ` +
          `got ${JSON.stringify([first, last])}`,
      );
    }
    return tf.tidy(() =>
      tf.mean(tf.slice(perStep, [0, 0, first - 1], [-1, -1, last - first + 1]), 2)
    );
  }

  /** The mean over steps `testIterations` of goodness per step: [n, numClasses]. */
  #testScores(perStep: tf.Tensor3D): tf.Tensor2D {
    return RecurrentFF.meanOverSteps(perStep, this.testIterations);
  }

  /** The normalised states of the bottom-up pass, which the readout reads. */
  #readoutStates(images: tf.Tensor2D): tf.Tensor2D[] {
    return this.#bottomUp(images).map((h) => normalizeRows(h, this.#normalize));
  }

  /** The readout's step on a batch; with `hard`, also the batch's hard negative labels. */
  async #readoutStep(
    x: tf.Tensor2D,
    y: Int32Array,
    scale: number,
    hard: boolean,
    seed: number,
  ): Promise<Int32Array | undefined> {
    if (!this.readout) return undefined;
    const states = tf.tidy(() => this.#readoutStates(x));
    try {
      return await this.readout.trainStep(states, y, scale, hard, seed);
    } finally {
      tf.dispose(states);
    }
  }

  /** Divergence at `layer` (or the first layer), naming the option most likely to blame. */
  #diverged(epoch: number, value: number, layer: number): TrainingDiverged {
    const { options, outFeatures } = this.layers[layer];
    return new TrainingDiverged(layer, epoch, value, likelySetting(options, outFeatures));
  }

  /** Training images (scaled as trained), checked. */
  #checkTraining(x: tf.Tensor2D): void {
    this.#checkImages(x, "x");
    checkFinite({ x });
  }

  /** Images to judge, checked, and brought to the scaling the network trained on. */
  #asked(x: tf.Tensor2D): tf.Tensor2D {
    this.#checkImages(x, "x");
    checkFinite({ x });
    return asTrained(x, this.options.pixels);
  }

  #checkImages(x: tf.Tensor2D, name: string): void {
    checkBackend();
    if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.shape[1] !== this.imageWidth) {
      const got = x instanceof tf.Tensor ? `[${x.shape}]` : typeof x;
      throw new Error(
        `${name} must be images, one per row of ${this.imageWidth} values (dims[0]), got ${got}`,
      );
    }
  }
}

/** Either kind of network: what training, checkpoints and weights files take. */
export type Network = FFNN | RecurrentFF;

/** x Wᵀ + b, then `activation`: one fused product. */
function affine(layer: Layer, x: tf.Tensor2D, activation: "relu" | "linear"): tf.Tensor2D {
  return tf.fused.matMul({
    a: x,
    b: layer.weight,
    transposeB: true,
    bias: layer.bias,
    activation,
  }) as tf.Tensor2D;
}
