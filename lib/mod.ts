/**
 * Forward-Forward networks (Hinton, 2022) with TensorFlow.js, as in the blog post
 * "Forward Forward Neural Networks": positive and negative data, a layer that learns on its
 * own, a network of such layers, and MNIST to try them on.
 *
 * @example
 * ```ts
 * import { combineXY, FFNN, loadMnist, negativeLabels, setBackend, tf } from "./lib/mod.ts";
 *
 * await setBackend("auto");
 * const mnist = await loadMnist("data/mnist");
 * const n = 10_000;
 * const x = tf.tensor2d(mnist.train.images.subarray(0, n * 784), [n, 784]);
 * const y = mnist.train.labels.subarray(0, n);
 * const net = new FFNN([794, 500, 500], { epochs: 100 });
 * await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 })));
 * ```
 *
 * @module
 */
export { type BackendName, BACKENDS, setBackend, tf } from "./backend.ts";
export {
  checkLabels,
  combineXY,
  type LabelMode,
  negativeLabels,
  type NegativeMode,
} from "./data.ts";
export { ffLoss, ffLossAndGradient, goodness } from "./goodness.ts";
export {
  type EpochCallback,
  Layer,
  type LayerOptions,
  normalizeRows,
  type TrainingInputs,
} from "./layer.ts";
export { FFNN, type FFNNOptions } from "./network.ts";
export { randperm, seededRandom, uniform } from "./random.ts";
export {
  DEFAULT_CONFIG,
  errorRate,
  type ExperimentConfig,
  type ExperimentResult,
  inputWidth,
  pick,
  runExperiment,
} from "./experiment.ts";
export { writeFileAtomic } from "./files.ts";
export {
  IMAGE_SIZE,
  loadMnist,
  loadMnistNpmSubset,
  loadMnistOrSubset,
  type Mnist,
  type MnistSplit,
} from "./mnist.ts";
export { fetchMnist } from "./mnist_fetch.ts";
export {
  barChart,
  confusionMatrix,
  digitGrid,
  type Figure,
  heatmap,
  histogram,
  lossCurves,
  Plot,
} from "./plot.ts";
export { progressReporter } from "./progress.ts";
export { reportHtml, writeReport } from "./report.ts";
