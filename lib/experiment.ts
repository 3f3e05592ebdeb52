/**
 * The post's experiment, end to end: pick training images, make positive and negative data,
 * train the network greedily, and score it by training and test error. Shared by the
 * `deno task train` CLI and the notebooks, so both report the same numbers the same way.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { combineXY, type LabelMode, negativeLabels, type NegativeMode } from "./data.ts";
import type { EpochCallback } from "./layer.ts";
import { IMAGE_SIZE, type Mnist, type MnistSplit } from "./mnist.ts";
import { FFNN } from "./network.ts";
import { randperm } from "./random.ts";

/** Everything that defines a run. */
export interface ExperimentConfig {
  /** Training images, drawn (seeded) from the training split; the post uses 50,000. */
  trainSize: number;
  /** Epochs per layer; the post uses 1000. */
  epochs: number;
  /** Layer widths, input first; default [784 + 10, 500, 500] (784 for label overlay). */
  dims?: number[];
  threshold: number;
  learningRate: number;
  seed: number;
  label: LabelMode;
  negatives: NegativeMode;
  /**
   * Not in the post: train on mini-batches of this size, all layers on every batch, `epochs`
   * passes over the data. Absent: the post's full-batch, layer-after-layer training.
   */
  batchSize?: number;
}

/** The post's recipe, on 10,000 images so that it finishes in minutes on a laptop CPU. */
export const DEFAULT_CONFIG: ExperimentConfig = {
  trainSize: 10_000,
  epochs: 1000,
  threshold: 2,
  learningRate: 0.03,
  seed: 42,
  label: "concat",
  negatives: "permute",
};

/** What a run measured. */
export interface ExperimentResult {
  config: ExperimentConfig & { dims: number[] };
  trainError: number;
  testError: number;
  /** Seconds spent in `FFNN.train`. */
  trainSeconds: number;
  /**
   * Seconds per epoch of each layer: the time from one epoch's report to the next, so a layer's
   * first epoch also pays for preparing its input. One entry for mini-batch training.
   */
  secondsPerEpochByLayer: number[];
  /** Losses per layer per epoch. */
  losses: number[][];
  /** The trained network; dispose it when done. */
  net: FFNN;
}

/** The input width for MNIST with labels attached the given way. */
export function inputWidth(label: LabelMode, numClasses = 10): number {
  return label === "concat" ? IMAGE_SIZE + numClasses : IMAGE_SIZE;
}

/** Images [count, 784] and labels of the rows `indices` of a split. */
export function pick(split: MnistSplit, indices: ArrayLike<number>): {
  x: tf.Tensor2D;
  y: Int32Array;
} {
  const images = new Float32Array(indices.length * IMAGE_SIZE);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i];
    images.set(split.images.subarray(row * IMAGE_SIZE, (row + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    y[i] = split.labels[row];
  }
  return { x: tf.tensor2d(images, [indices.length, IMAGE_SIZE]), y };
}

/** Fraction of rows whose predicted label is wrong. */
export async function errorRate(net: FFNN, x: tf.Tensor2D, y: Int32Array): Promise<number> {
  const predicted = net.predict(x);
  const labels = await predicted.data();
  predicted.dispose();
  let wrong = 0;
  for (let i = 0; i < y.length; i++) if (labels[i] !== y[i]) wrong++;
  return wrong / y.length;
}

/** Throws a one-line error for a config that cannot run on this data. */
export function checkConfig(config: ExperimentConfig, data: Mnist): number[] {
  const width = inputWidth(config.label);
  const dims = config.dims ?? [width, 500, 500];
  if (!Number.isInteger(config.trainSize) || config.trainSize < 1) {
    throw new Error(`--train-size must be a positive integer, got ${config.trainSize}`);
  }
  if (config.trainSize > data.train.count) {
    throw new Error(
      `--train-size ${config.trainSize} is more than the ${data.train.count} training images: use at most ${data.train.count}`,
    );
  }
  if (dims[0] !== width) {
    throw new Error(
      `--dims starts with ${
        dims[0]
      } but the data has ${width} inputs with --label ${config.label}: use --dims ${
        [width, ...dims.slice(1)].join(",")
      }`,
    );
  }
  return dims;
}

/**
 * Trains the post's network on MNIST and scores it.
 *
 * @example
 * ```ts
 * const data = await loadMnistOrSubset("data/mnist");
 * const result = await runExperiment(data, { ...DEFAULT_CONFIG, epochs: 100 });
 * console.log(result.trainError, result.testError);
 * result.net.dispose();
 * ```
 */
export async function runExperiment(
  data: Mnist,
  config: ExperimentConfig,
  { onEpoch }: { onEpoch?: EpochCallback } = {},
): Promise<ExperimentResult> {
  const dims = checkConfig(config, data);
  const rows = randperm(data.train.count, config.seed).subarray(0, config.trainSize);
  const net = new FFNN(dims, {
    epochs: config.epochs,
    threshold: config.threshold,
    learningRate: config.learningRate,
    seed: config.seed,
    label: config.label,
  });
  try {
    const start = performance.now();
    const timed = epochTimer(start, onEpoch);
    await train(net, pick(data.train, rows), config, timed.onEpoch);
    const trainSeconds = (performance.now() - start) / 1000;
    // Scored on freshly picked copies: the training tensors are gone by now, which keeps the
    // run's peak memory down.
    const trainError = await scored(net, pick(data.train, rows));
    const testError = await scored(net, pick(data.test, Array.from(data.test.labels.keys())));
    return {
      config: { ...config, dims },
      trainError,
      testError,
      trainSeconds,
      secondsPerEpochByLayer: timed.secondsPerEpochByLayer(),
      losses: net.losses,
      net,
    };
  } catch (e) {
    net.dispose();
    throw e;
  }
}

/** Wraps `onEpoch` to add up, per layer, the seconds between consecutive epoch reports. */
function epochTimer(start: number, onEpoch?: EpochCallback) {
  const seconds: number[] = [];
  const epochs: number[] = [];
  let last = start;
  return {
    onEpoch: (progress: Parameters<EpochCallback>[0]) => {
      const now = performance.now();
      seconds[progress.layer] = (seconds[progress.layer] ?? 0) + (now - last) / 1000;
      epochs[progress.layer] = (epochs[progress.layer] ?? 0) + 1;
      const done = onEpoch?.(progress);
      // The caller's own work (progress bars, plots) is not the layer's.
      return Promise.resolve(done).then(() => void (last = performance.now()));
    },
    secondsPerEpochByLayer: () => seconds.map((s, layer) => s / epochs[layer]),
  };
}

/** The post's full-batch training, or mini-batches when `config.batchSize` is set. */
async function train(
  net: FFNN,
  { x, y }: { x: tf.Tensor2D; y: Int32Array },
  config: ExperimentConfig,
  onEpoch?: EpochCallback,
): Promise<void> {
  try {
    if (config.batchSize) {
      await net.trainMiniBatch(x, y, { ...config, batchSize: config.batchSize, onEpoch });
      return;
    }
    const yNegative = negativeLabels(y, { mode: config.negatives, seed: config.seed + 1 });
    const xPositive = combineXY(x, y, 10, config.label);
    const xNegative = combineXY(x, yNegative, 10, config.label);
    x.dispose();
    try {
      await net.train(xPositive, xNegative, { onEpoch });
    } finally {
      tf.dispose([xPositive, xNegative]);
    }
  } finally {
    x.dispose();
  }
}

async function scored(net: FFNN, { x, y }: { x: tf.Tensor2D; y: Int32Array }): Promise<number> {
  try {
    return await errorRate(net, x, y);
  } finally {
    x.dispose();
  }
}
