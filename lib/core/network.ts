/**
 * A Forward-Forward network: layers trained on positive and negative data, each on the previous
 * layer's outputs, never on its gradients; and predictions that ask it which label fits.
 *
 * Two ways to train: the post's, one layer after another on the whole batch (`train`), and
 * Hinton's, all layers together on mini-batches (`trainMiniBatch`), where hard negatives, the
 * softmax readout, shifts and dropout can join in.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { shiftImages } from "./augment.ts";
import {
  checkBackend,
  checkFinite,
  checkFiniteValues,
  checkNames,
  checkRange,
  zeroSum,
} from "./check.ts";
import {
  combineXY,
  labelArray,
  type LabelMode,
  type Labels,
  negativeLabels,
  type NegativeMode,
} from "./data.ts";
import { goodness } from "./goodness.ts";
import { checkBlurs, DEFAULT_BLURS, hybridNegatives } from "./hybrid.ts";
import {
  type EpochCallback,
  Layer,
  LAYER_OPTIONS,
  type LayerOptions,
  likelySetting,
  normalizeRows,
  silentLayer,
  TrainingDiverged,
} from "./layer.ts";
import { localGeometries, type LocalSpec } from "./local.ts";
import { cooldown } from "./optim.ts";
import { deriveSeed, randperm, seededRandom } from "./random.ts";
import { READOUT_OPTIONS, type ReadoutOptions, SoftmaxReadout } from "./readout.ts";

/** Options of an {@linkcode FFNN}: every {@linkcode LayerOptions} applies to each layer. */
export interface FFNNOptions extends Omit<LayerOptions, "weight" | "bias" | "local"> {
  /** Initial weights per layer ([out, in] and [out]), e.g. to reproduce a torch run. */
  layers?: { weight: number[][] | tf.Tensor2D; bias: number[] | tf.Tensor1D }[];
  /** Number of labels. Default 10. */
  numClasses?: number;
  /** How labels are written into the images. Default "concat", as in the post. */
  label?: LabelMode;
  /** The label entry's value: "max" (the post) or a number (Hinton: 1). Default "max". */
  labelValue?: "max" | number;
  /**
   * A softmax readout on the normalised activities of the layers from `fromLayer` on (0-based;
   * Hinton reads all but the first: 1), trained by `trainMiniBatch`. Default: none.
   */
  readout?: ReadoutOptions & { fromLayer?: number };
  /**
   * How the images this network is asked about were scaled, when not as it trained: pixel
   * bytes p became (p/255 - mean) / std under `given` and under `trained` (unit scaling, p/255,
   * is mean 0 and std 1). `predict`, `predictEach`, `goodnessPerLabel` and `readoutScores`
   * bring their images from `given` to `trained` through each pixel's byte, so exactly;
   * `train` and `trainMiniBatch` take images scaled as trained. `runExperiment` sets it, so that
   * its network predicts on images as they were loaded. Default: none, images as trained.
   */
  pixels?: { given: PixelStats; trained: PixelStats };
  /**
   * Locally connected first layers (lib/core/local.ts), one geometry per layer from the first:
   * the first over the square image's pixels (with label "concat", every location also sees the
   * label), each next over the grid below. Default: none, every layer dense.
   */
  local?: LocalSpec[];
}

/**
 * Images scaled as `pixels.given` brought to `pixels.trained` through each pixel's byte, so
 * exactly (see {@linkcode FFNNOptions.pixels}); without `pixels`, x itself.
 */
export function asTrained(
  x: tf.Tensor2D,
  pixels?: { given: PixelStats; trained: PixelStats },
): tf.Tensor2D {
  if (!pixels) return x;
  const { given, trained } = pixels;
  const bytes = tf.round(tf.mul(tf.add(tf.mul(x, given.std), given.mean), 255));
  return tf.div(tf.sub(tf.div(bytes, 255), trained.mean), trained.std);
}

/** A pixel scaling: byte p becomes (p/255 - mean) / std. */
export interface PixelStats {
  mean: number;
  std: number;
}

/** Every option an {@linkcode FFNN} knows: its own and its layers'. */
const FFNN_OPTIONS = [
  ...LAYER_OPTIONS.filter((name) => name !== "weight" && name !== "bias"),
  "layers",
  "numClasses",
  "label",
  "labelValue",
  "readout",
  "pixels",
];

/** Every option of {@linkcode FFNN.trainMiniBatch}. */
const MINI_BATCH_OPTIONS: readonly (keyof MiniBatchOptions)[] = [
  "batchSize",
  "epochs",
  "negatives",
  "seed",
  "cooldown",
  "shift",
  "dropout",
  "blurs",
  "startEpoch",
  "onEpoch",
];

/** Mini-batch epochs in a row with a silent layer (no unit active) before training warns. */
const SILENT_EPOCHS = 2;

/** How {@linkcode FFNN.predict} picks a label. */
export type Readout = "goodness" | "goodness-skip-first" | "softmax";

/**
 * The readouts a network may have: goodness with a label in the input, softmax when built with
 * one (a network with label "none" has only that).
 */
export const READOUTS: readonly Readout[] = ["goodness", "goodness-skip-first", "softmax"];

/** Options of {@linkcode FFNN.trainMiniBatch}; the defaults are the plain mini-batch loop. */
export interface MiniBatchOptions {
  /** Images per step. */
  batchSize: number;
  /** Passes over the images. */
  epochs: number;
  /**
   * Default "permute". "hard" needs the softmax readout, whose scores it samples from. "hybrid"
   * (unsupervised, for label "none") makes each image's negative from it and another image under
   * a blurred random mask, drawn anew every batch of every epoch (see hybrid.ts).
   */
  negatives?: NegativeMode;
  /** Seed of the shuffles, negative labels or hybrids, shifts and dropout. Default 0. */
  seed?: number;
  /** Hinton's linear cooldown of the learning rate over the second half. Default false. */
  cooldown?: boolean;
  /** Shift each image by up to this many pixels, redrawn every epoch. Default 0. */
  shift?: number;
  /** Fraction of each layer's units dropped in every training pass. Default 0. */
  dropout?: number;
  /** Negatives "hybrid": blurs of each mask's random bits (see hybridMasks). Default 10. */
  blurs?: number;
  /** Continue a run that finished epoch startEpoch - 1 (see lib/checkpoint.ts). Default 1. */
  startEpoch?: number;
  /** Hears once per epoch (as layer 0 of 1, with the layers' mean loss). */
  onEpoch?: EpochCallback;
}

/**
 * A stack of Forward-Forward layers.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
 * import { combineXY, negativeLabels } from "./data.ts";
 * import { FFNN } from "./network.ts";
 * const x = tf.randomUniform([40, 6], 0, 1, "float32", 1) as tf.Tensor2D;
 * const y = Array.from({ length: 40 }, (_, i) => i % 10);
 * const net = new FFNN([16, 8, 8], { epochs: 20, seed: 1 });
 * await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 })));
 * assertEquals(net.predict(x).shape, [40]); // a label per row
 * assertEquals(net.losses.map((losses) => losses.length), [20, 20]);
 * ```
 */
export class FFNN {
  readonly dims: number[];
  readonly layers: Layer[];
  readonly numClasses: number;
  readonly label: LabelMode;
  readonly labelValue: "max" | number;
  readonly readout?: SoftmaxReadout;
  /** The first layer the readout reads (0-based). */
  readonly readoutFrom: number;
  /** Every option the network was built with, for saving and resuming. */
  readonly options: Readonly<Omit<FFNNOptions, "layers">>;

  constructor(dims: number[], options: FFNNOptions = {}) {
    if (
      !Array.isArray(dims) || dims.length < 2 || !dims.every((d) => Number.isInteger(d) && d > 0)
    ) {
      throw new Error(
        `dims must list at least two positive integers (input width, then each layer's width), ` +
          `got ${JSON.stringify(dims)}`,
      );
    }
    checkNames(options, FFNN_OPTIONS, "option");
    const {
      layers = [],
      numClasses = 10,
      label = "concat",
      labelValue = "max",
      readout,
      pixels,
      local = [],
      seed = 0,
      ...shared
    } = options;
    if (layers.length > 0 && layers.length !== dims.length - 1) {
      throw new Error(
        `got initial weights for ${layers.length} layers, dims make ${dims.length - 1}`,
      );
    }
    if (!Number.isInteger(numClasses) || numClasses < 2) {
      throw new Error(`numClasses must be an integer >= 2, got ${numClasses}`);
    }
    if (label === "concat" && dims[0] <= numClasses) {
      throw new Error(
        `dims[0] (${dims[0]}) must exceed numClasses (${numClasses}): with label "concat" the ` +
          `input is the image's width plus numClasses`,
      );
    }
    if (label === "overlay" && dims[0] < numClasses) {
      throw new Error(
        `dims[0] (${dims[0]}) must be at least numClasses (${numClasses}) for label "overlay"`,
      );
    }
    if (!["concat", "overlay", "none"].includes(label)) {
      throw new Error(`label must be "concat", "overlay" or "none", got "${label}"`);
    }
    if (labelValue !== "max") checkRange("labelValue", labelValue, {});
    this.readoutFrom = readout?.fromLayer ?? 1;
    // Everything is checked before the first tensor exists: a throw then leaves nothing behind.
    if (readout) {
      checkNames(readout, [...READOUT_OPTIONS, "fromLayer"], "readout option");
      SoftmaxReadout.checkOptions(readout, "readout.");
      if (
        !Number.isInteger(this.readoutFrom) || this.readoutFrom < 0 ||
        this.readoutFrom >= dims.length - 1
      ) {
        throw new Error(
          `readout.fromLayer must be a layer index from 0 to ${dims.length - 2}, got ` +
            `${this.readoutFrom}`,
        );
      }
    }
    if (pixels) {
      for (const side of ["given", "trained"] as const) {
        checkRange(`pixels.${side}.mean`, pixels[side]?.mean, {});
        checkRange(`pixels.${side}.std`, pixels[side]?.std, { min: Number.MIN_VALUE });
      }
    }
    const geometries = local.length > 0
      ? this.#localGeometries(dims, local, numClasses, label)
      : [];
    const { layers: _initial, ...kept } = options;
    this.options = kept;
    this.dims = [...dims];
    this.numClasses = numClasses;
    this.label = label;
    this.labelValue = labelValue;
    this.layers = [];
    try {
      for (const [i, out] of dims.slice(1).entries()) {
        const wiring = geometries[i] && { local: geometries[i] };
        this.layers.push(
          new Layer(dims[i], out, { ...shared, seed: seed + i, ...wiring, ...layers[i] }),
        );
      }
      if (readout) {
        const { fromLayer: _, ...settings } = readout;
        this.readout = new SoftmaxReadout(dims.slice(1 + this.readoutFrom), numClasses, settings);
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** The local layers' geometries, over a square image with the label (if appended) shared. */
  #localGeometries(
    dims: number[],
    local: LocalSpec[],
    numClasses: number,
    label: LabelMode,
  ): ReturnType<typeof localGeometries> {
    const pixels = label === "concat" ? dims[0] - numClasses : dims[0];
    const side = Math.round(Math.sqrt(pixels));
    if (side * side !== pixels) {
      throw new Error(
        `local layers see square images, but the images here have ${pixels} pixels: use dense ` +
          `layers (no local) for these images`,
      );
    }
    const shared = label === "concat"
      ? Array.from({ length: numClasses }, (_, k) => pixels + k)
      : [];
    return localGeometries(local, { image: [side, side, 1], shared, dims });
  }

  /** The width of the images this network takes, before the label is written in. */
  get imageWidth(): number {
    return this.label === "concat" ? this.dims[0] - this.numClasses : this.dims[0];
  }

  /**
   * The post's training: the layers one after another on the whole batch, layer i on layer
   * i-1's outputs. `start` continues a run stopped at that layer and epoch (lib/checkpoint.ts).
   */
  async train(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
    options: { onEpoch?: EpochCallback; start?: { layer: number; epoch: number } } = {},
  ): Promise<void> {
    checkNames(options, ["onEpoch", "start"], "train option");
    const { onEpoch, start = { layer: 0, epoch: 1 } } = options;
    this.#checkLabelled(xPositive, "xPositive");
    this.#checkLabelled(xNegative, "xNegative");
    let [hPositive, hNegative] = [xPositive, xNegative];
    try {
      for (const [i, layer] of this.layers.entries()) {
        // A layer before `start` has trained: starting past its last epoch only computes its
        // outputs, by the very operations its training ended with, so that a resumed run's next
        // layer sees the same bits as an uninterrupted run's.
        const done = layer.options.epochs + 1;
        const startEpoch = i < start.layer ? done : i === start.layer ? start.epoch : 1;
        const [nextPositive, nextNegative] = await layer.train(hPositive, hNegative, {
          onEpoch,
          layer: i,
          layers: this.layers.length,
          startEpoch,
        });
        if (i > 0) tf.dispose([hPositive, hNegative]);
        [hPositive, hNegative] = [nextPositive, nextNegative];
      }
    } finally {
      // Also when a layer's training throws (diverged, or interrupted by its epoch callback).
      if (hPositive !== xPositive) tf.dispose([hPositive, hNegative]);
    }
  }

  /**
   * Training on mini-batches, all layers on every batch: each epoch shuffles the images and draws
   * fresh negative labels; on every batch each layer takes one step and hands its outputs to the
   * next. With a readout, a neutral-label pass first scores the batch; the readout learns from it
   * and, with `negatives: "hard"`, the negative labels are drawn from its scores.
   *
   * `losses` records each epoch's mean batch loss per layer.
   *
   * @param x images without labels, [n, imageWidth]
   * @param y their labels
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
      blurs = DEFAULT_BLURS,
      startEpoch = 1,
      onEpoch,
    } = options;
    this.#checkImages(x, "x");
    const rows = x.shape[0];
    // Labels in a tensor are read asynchronously: on WebGPU a synchronous read fails.
    const given = y instanceof tf.Tensor && y.rank === 1 ? await y.data() : y;
    const labels = labelArray(given, rows, this.numClasses);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isInteger(epochs) || epochs < 0) {
      throw new Error(`epochs must be a non-negative integer, got ${epochs}`);
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new Error(`dropout must be a fraction from 0 up to (not including) 1, got ${dropout}`);
    }
    if (!Number.isInteger(shift) || shift < 0) {
      throw new Error(`shift must be a whole number of pixels, 0 or more, got ${shift}`);
    }
    checkRange("seed", seed, {});
    if (negatives === "hard" && !this.readout) {
      throw new Error(
        'negatives "hard" are drawn from the softmax readout\'s scores: build the network with ' +
          'a readout, or use negatives "permute" or "wrong"',
      );
    }
    if (!["permute", "wrong", "hard", "hybrid"].includes(negatives)) {
      throw new Error(
        `negatives must be "permute", "wrong", "hard" or "hybrid", got "${negatives}"`,
      );
    }
    const hybrid = negatives === "hybrid";
    if (hybrid !== (this.label === "none")) {
      throw new Error(
        hybrid
          ? 'negatives "hybrid" are for a network with no label in its input: build it with ' +
            'label "none"'
          : `a network with label "none" has no label to make negatives "${negatives}" of: ` +
            'use negatives "hybrid"',
      );
    }
    checkBlurs(blurs);
    // Without dropout the layers' positive pass is the neutral pass the readout reads: the
    // readout learns from it, one forward pass fewer.
    const statesFromSteps = hybrid && dropout === 0 && this.readout !== undefined;
    const images = await x.data() as Float32Array;
    // Checked once here, so that no step pays for a check of its batch.
    checkFiniteValues("x", images);
    const pixels = x.shape[1];
    const background = shift > 0 ? images.reduce((a, b) => Math.min(a, b), Infinity) : 0;
    if (startEpoch === 1) { for (const layer of this.layers) layer.losses = []; }
    const { learningRate } = this.layers[0].options;
    let silentEpochs = 0;
    for (let epoch = startEpoch; epoch <= epochs; epoch++) {
      const scale = options.cooldown ? cooldown(epoch, epochs) : 1;
      const order = randperm(rows, deriveSeed(seed, epoch, 1));
      const yNegative = negatives === "hard" || hybrid ? undefined : negativeLabels(labels, {
        mode: negatives,
        seed: deriveSeed(seed, epoch, 2),
        numClasses: this.numClasses,
      });
      const shifts = seededRandom(deriveSeed(seed, epoch, 3));
      let sums = tf.zeros([this.layers.length]);
      let batches = 0;
      for (let start = 0; start < rows; start += batchSize, batches++) {
        const batch = order.subarray(start, Math.min(start + batchSize, rows));
        const picked = new Float32Array(batch.length * pixels);
        batch.forEach((row, i) =>
          picked.set(images.subarray(row * pixels, (row + 1) * pixels), i * pixels)
        );
        const batchImages = shift > 0
          ? shiftImages(picked, batch.length, shift, shifts, background)
          : picked;
        const xBatch = tf.tensor2d(batchImages, [batch.length, pixels]);
        const yBatch = Int32Array.from(batch, (row) => labels[row]);
        let xHybrids: tf.Tensor2D | undefined;
        try {
          if (hybrid) {
            const made = hybridNegatives(images, batch, {
              pixels,
              blurs,
              seed: deriveSeed(seed, epoch, 6, batches),
            }).images;
            const negativeImages = shift > 0
              ? shiftImages(made, batch.length, shift, shifts, background)
              : made;
            xHybrids = tf.tensor2d(negativeImages, [batch.length, pixels]);
          }
          const yNegBatch = statesFromSteps ? undefined : await this.#readoutStep(
            xBatch,
            yBatch,
            scale,
            negatives === "hard",
            deriveSeed(seed, epoch, 4, batches),
          ) ??
            (hybrid ? undefined : Int32Array.from(batch, (row) => yNegative![row]));
          // No label is drawn (-1) from scores gone NaN: the layers' weights have overflowed.
          if (yNegBatch?.includes(-1)) {
            sums.dispose();
            throw await this.#diverged(epoch, NaN);
          }
          const [losses, states] = tf.tidy(() => {
            let hPositive = this.#withLabels(xBatch, yBatch);
            let hNegative = xHybrids ?? this.#withLabels(xBatch, yNegBatch!);
            const states: tf.Tensor2D[] = [];
            const losses = tf.stack(this.layers.map((layer, l) => {
              const step = layer.step(hPositive, hNegative, {
                scale,
                dropout: dropout > 0
                  ? { rate: dropout, seed: deriveSeed(seed, epoch, 5, batches, l) }
                  : undefined,
                inputsChecked: true,
              });
              [hPositive, hNegative] = [step.hPositive, step.hNegative];
              if (statesFromSteps && l >= this.readoutFrom) {
                states.push(normalizeRows(step.hPositive, layer.options.normalize));
              }
              return step.loss;
            }));
            return [losses, states] as [tf.Tensor, tf.Tensor2D[]];
          });
          if (statesFromSteps) this.readout!.step(states, yBatch, scale).dispose();
          tf.dispose(states);
          const next = tf.add(sums, losses);
          tf.dispose([sums, losses]);
          sums = next;
        } finally {
          tf.dispose([xBatch, ...xHybrids ? [xHybrids] : []]);
        }
      }
      const means = Array.from(await sums.data(), (sum) => sum / batches);
      sums.dispose();
      const diverged = means.find((loss) => !Number.isFinite(loss));
      if (diverged !== undefined) throw await this.#diverged(epoch, diverged, means);
      means.forEach((loss, i) => this.layers[i].losses.push(loss));
      if (this.readout) {
        const readoutSum = tf.tidy(() => tf.addN(this.readout!.weights.map(zeroSum)));
        const value = (await readoutSum.data())[0];
        readoutSum.dispose();
        if (value !== 0) throw await this.#diverged(epoch, value);
      }
      // Said once, after SILENT_EPOCHS silent epochs in a row: a single one can pass, and a
      // warning every epoch would bury the progress lines.
      const silent = await this.#silentWarning(x, epoch, learningRate);
      silentEpochs = silent ? silentEpochs + 1 : 0;
      const warning = silentEpochs === SILENT_EPOCHS ? silent : undefined;
      const loss = means.reduce((a, b) => a + b) / means.length;
      await onEpoch?.({
        layer: 0,
        layers: 1,
        epoch,
        epochs,
        loss,
        losses: means,
        ...warning && { warning },
      });
    }
  }

  /**
   * Goodness summed over the layers with each label written into x: [n, numClasses]. x holds
   * images only; the label is written in the way it was for training. `skipFirst` leaves the
   * first layer out of the sum (Hinton's test: its goodness mostly reflects the label's pixels).
   */
  goodnessPerLabel(
    x: tf.Tensor2D,
    { skipFirst = false }: { skipFirst?: boolean } = {},
  ): tf.Tensor2D {
    return tf.tidy(() => {
      const wanted: [boolean, boolean] = skipFirst ? [false, true] : [true, false];
      const [all, skipped] = this.#goodnessSums(this.#asked(x), wanted);
      return (skipFirst ? skipped : all)!;
    });
  }

  /**
   * The goodness per label summed over all layers and over all but the first, as wanted: one
   * pass per label serves both.
   */
  #goodnessSums(
    x: tf.Tensor2D,
    [wantAll, wantSkipped]: [boolean, boolean],
  ): [tf.Tensor2D?, tf.Tensor2D?] {
    this.#checkImages(x, "x");
    if (this.label === "none") {
      throw new Error(
        "goodness per label needs a label in the input, and this network has none (label " +
          '"none"): ask its softmax readout (readoutScores)',
      );
    }
    const [first, ...rest] = this.layers;
    const rows = x.shape[0];
    const { normalize, goodness: kind } = first.options;
    // Every label gives the first layer an input of the same length (one label entry of the same
    // value), so its normalisation is the same for all labels; the first product is computed once,
    // for label 0, and label k adds a rank-one term:
    //   z_k = z_0 + c (w_k - w_0)ᵀ,  c = the normalised label entry, w_k = W's column of label k
    // (the same numbers as writing in each label and running the layer; tests check both ways).
    const [z0, c] = tf.tidy(() => {
      const x0 = normalizeRows(this.#withLabels(x, new Int32Array(rows)), normalize);
      return [
        first.linear(x0),
        tf.slice(x0, [0, this.#labelColumn(0)], [rows, 1]),
      ];
    });
    // One label at a time, each in its own scope: all at once would take numClasses copies of
    // the activations (gigabytes at 50,000 images).
    const perLabel = Array.from({ length: this.numClasses }, (_, label) =>
      tf.tidy(() => {
        const w = (k: number) => first.inputColumn(this.#labelColumn(k));
        const shift = tf.transpose(tf.sub(w(label), w(0)));
        let h = tf.fused.matMul({ a: c, b: shift, bias: z0, activation: "relu" }) as tf.Tensor2D;
        const firstGoodness = goodness(h, kind);
        let skipped: tf.Tensor1D = tf.zeros([rows]);
        for (const layer of rest) {
          h = layer.forward(h);
          skipped = tf.add(skipped, goodness(h, layer.options.goodness));
        }
        return [tf.add(firstGoodness, skipped), skipped] as tf.Tensor1D[];
      }));
    try {
      return [
        wantAll ? tf.stack(perLabel.map(([all]) => all), 1) as tf.Tensor2D : undefined,
        wantSkipped
          ? tf.stack(perLabel.map(([, skipped]) => skipped), 1) as tf.Tensor2D
          : undefined,
      ];
    } finally {
      tf.dispose([...perLabel.flat(), z0, c]);
    }
  }

  /**
   * The normalised activities of every layer on one pass of images x with the neutral label
   * (nothing written in, for label "none"): one [n, width] per layer, the caller disposes them.
   * They are what the softmax readout reads (from `readoutFrom` on), so a readout of one's own,
   * on any set of layers, can be trained on them, detached. Images as `predict` takes them.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { tf } from "./deps.ts";
   * import { FFNN } from "./network.ts";
   * const net = new FFNN([6, 8, 4], { label: "none", seed: 1 });
   * const states = net.states(tf.ones([3, 6]) as tf.Tensor2D);
   * assertEquals(states.map((s) => s.shape), [[3, 8], [3, 4]]); // one per layer
   * tf.dispose(states);
   * net.dispose();
   * ```
   */
  states(x: tf.Tensor2D): tf.Tensor2D[] {
    return tf.tidy(() => this.#neutralStates(this.#asked(x), 0));
  }

  /** The softmax readout's scores from one neutral-label pass: [n, numClasses]. */
  readoutScores(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.#readoutScores(this.#asked(x)));
  }

  #readoutScores(images: tf.Tensor2D): tf.Tensor2D {
    if (!this.readout) {
      throw new Error(
        'this network has no softmax readout: build it with `readout: {}`, or predict by "goodness"',
      );
    }
    return this.readout.logits(this.#neutralStates(images));
  }

  /**
   * The label the network finds best for every row of x: [n] int32. `readout` says how it
   * judges: by goodness over all layers (the post), over all but the first, or by the softmax
   * readout.
   */
  predict(x: tf.Tensor2D, { readout }: { readout?: Readout } = {}): tf.Tensor1D {
    // Default: goodness, where the network has a label to judge by; else the softmax readout.
    const chosen = readout ?? this.readouts[0] ?? "softmax";
    return this.predictEach(x, [chosen])[chosen]!;
  }

  /** {@linkcode FFNN.predict} by several readouts at once, sharing the goodness passes. */
  predictEach(
    x: tf.Tensor2D,
    readouts: readonly Readout[] = this.readouts,
  ): Partial<Record<Readout, tf.Tensor1D>> {
    for (const readout of readouts) {
      if (!READOUTS.includes(readout)) {
        throw new Error(`readout must be one of ${READOUTS.join(", ")}, got "${readout}"`);
      }
      if (readout !== "softmax" && this.label === "none") {
        throw new Error(
          `readout "${readout}" asks which label gives the most goodness, but this network has ` +
            'no label in its input (label "none"): predict by "softmax"',
        );
      }
      if (readout === "goodness-skip-first" && this.layers.length < 2) {
        throw new Error('readout "goodness-skip-first" needs at least two layers');
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
        const [all, skipped] = this.#goodnessSums(images, wanted);
        if (all) out.goodness = tf.argMax(all, 1);
        if (skipped) out["goodness-skip-first"] = tf.argMax(skipped, 1);
      }
      if (readouts.includes("softmax")) out.softmax = tf.argMax(this.#readoutScores(images), 1);
      return out as Record<string, tf.Tensor1D>;
    });
  }

  /** The readouts this network can predict with: no goodness without a label in the input. */
  get readouts(): Readout[] {
    return READOUTS.filter((r) =>
      r === "softmax"
        ? this.readout !== undefined
        : this.label !== "none" && (r === "goodness" || this.layers.length > 1)
    );
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

  /**
   * The normalised activities of the layers from `from` on (default: those the readout reads),
   * on a neutral-label pass.
   */
  #neutralStates(x: tf.Tensor2D, from = this.readoutFrom): tf.Tensor2D[] {
    let h = this.#withLabels(x, "neutral");
    return this.layers.flatMap((layer, i) => {
      h = layer.forward(h);
      return i >= from ? [normalizeRows(h, layer.options.normalize)] : [];
    });
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
    const states = tf.tidy(() => this.#neutralStates(x));
    try {
      return await this.readout.trainStep(states, y, scale, hard, seed);
    } finally {
      tf.dispose(states);
    }
  }

  /**
   * Divergence (a loss, or `value`, gone non-finite), blamed on the first layer whose weights
   * are not finite, else on the readout if its are not, else on the first layer whose loss is
   * not: each names the option most likely to blame (see {@linkcode likelySetting}).
   */
  async #diverged(epoch: number, value: number, losses: number[] = []): Promise<TrainingDiverged> {
    const parts = [...this.layers.map((l) => [l.weight, l.bias]), this.readout?.weights ?? []];
    const sums = tf.tidy(() =>
      tf.stack(parts.map((p) => tf.addN([tf.scalar(0), ...p.map(zeroSum)])))
    );
    const finite = Array.from(await sums.data(), (v) => v === 0);
    sums.dispose();
    let at = finite.findIndex((ok) => !ok);
    if (at < 0) at = Math.max(0, losses.findIndex((loss) => !Number.isFinite(loss)));
    if (at === this.layers.length) {
      const settings = { ...this.readout!.options, optimizer: "sgd" as const };
      return new TrainingDiverged("readout", epoch, value, likelySetting(settings, 0, "readout."));
    }
    const layer = this.layers[at];
    return new TrainingDiverged(at, epoch, value, likelySetting(layer.options, layer.outFeatures));
  }

  /** A warning naming the first layer with no active unit on (up to) the first 256 images. */
  async #silentWarning(
    x: tf.Tensor2D,
    epoch: number,
    learningRate: number,
  ): Promise<string | undefined> {
    const sample = tf.tidy(() => {
      const rows = Math.min(x.shape[0], 256);
      let h = this.#withLabels(tf.slice2d(x, [0, 0], [rows, -1]), "neutral");
      return tf.stack(this.layers.map((layer) => tf.max(h = layer.forward(h))));
    });
    const maxima = await sample.data();
    sample.dispose();
    const silent = maxima.findIndex((m) => !(m > 0));
    return silent >= 0 ? silentLayer(silent, epoch, learningRate) : undefined;
  }

  #withLabels(x: tf.Tensor2D, y: Labels | "neutral"): tf.Tensor2D {
    return combineXY(x, y, {
      numClasses: this.numClasses,
      mode: this.label,
      value: this.labelValue,
    });
  }

  /** Index of label k's entry in the first layer's input. */
  #labelColumn(k: number): number {
    return this.label === "concat" ? this.imageWidth + k : k;
  }

  /**
   * Images to judge, checked, and brought to the pixel scaling the network trained on (see
   * {@linkcode FFNNOptions.pixels}): through each pixel's byte, so that they are the very
   * numbers the same images scaled as trained would be.
   */
  #asked(x: tf.Tensor2D): tf.Tensor2D {
    this.#checkImages(x, "x");
    checkFinite({ x });
    return asTrained(x, this.options.pixels);
  }

  #checkImages(x: tf.Tensor2D, name: string): void {
    checkBackend();
    if (!(x instanceof tf.Tensor) || x.rank !== 2) {
      throw new Error(`${name} must be a 2-D tensor of images, one per row`);
    }
    if (x.shape[1] === this.imageWidth) return;
    const how = this.label === "concat"
      ? `dims[0] = ${this.dims[0]} minus numClasses = ${this.numClasses}, for label "concat"`
      : `dims[0] = ${this.dims[0]}, for label "${this.label}"`;
    throw new Error(
      `${name} has ${x.shape[1]} features per row, but this network takes images of ` +
        `${this.imageWidth} (${how}): check numClasses and dims[0]`,
    );
  }

  #checkLabelled(x: tf.Tensor2D, name: string): void {
    if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.shape[1] !== this.dims[0]) {
      const got = x instanceof tf.Tensor ? `[${x.shape}]` : typeof x;
      throw new Error(
        `${name} must be images with their labels written in, [n, dims[0] = ${this.dims[0]}]; ` +
          `got ${got}: make it with combineXY, or pass plain images to trainMiniBatch`,
      );
    }
  }
}
