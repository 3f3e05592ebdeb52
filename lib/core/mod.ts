/**
 * The Forward-Forward core: the ideas of the post and of Hinton's paper, in plain TensorFlow.js
 * ops, and nothing else. Copy this folder alone into a project and it runs (on tfjs's cpu
 * backend; lib/backends/ adds fast ones).
 *
 * - data.ts: positive and negative data (labels written into images; permuted, wrong, hard)
 * - goodness.ts: goodness and the FF loss, with its gradient
 * - layer.ts: a layer that learns on its own (normalisation, peer normalisation, dropout)
 * - network.ts: layers trained one after another or together; prediction by goodness or softmax
 * - optim.ts: Adam (the post), SGD with a weight cost and a cooldown (Hinton)
 * - readout.ts: Hinton's softmax readout; augment.ts: shifted images; random.ts: seeds
 *
 * @example
 * ```ts
 * import { combineXY, FFNN, negativeLabels, tf } from "./mod.ts";
 *
 * const x = tf.randomUniform([200, 20], 0, 1, "float32", 7) as tf.Tensor2D;
 * const y = Array.from({ length: 200 }, (_, i) => i % 10);
 * const net = new FFNN([30, 50], { epochs: 50, seed: 1 });
 * await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 2 })));
 * net.predict(x).shape; // [200]
 * ```
 *
 * @module
 */
export { tf } from "./deps.ts";
export {
  combineXY,
  hardNegativeLabels,
  hardNegativeProbabilities,
  labelArray,
  type LabelMode,
  type LabelOptions,
  type Labels,
  negativeLabels,
  type NegativeMode,
  sampleLabels,
} from "./data.ts";
export {
  defaultThreshold,
  ffLoss,
  ffLossAndGradient,
  goodness,
  type GoodnessKind,
  type PeerNormalization,
} from "./goodness.ts";
export {
  type EpochCallback,
  type EpochProgress,
  Layer,
  type LayerOptions,
  normalizeRows,
  type NormKind,
  TrainingDiverged,
} from "./layer.ts";
export {
  FFNN,
  type FFNNOptions,
  type MiniBatchOptions,
  type Readout,
  READOUTS,
} from "./network.ts";
export {
  Adam,
  type AdamOptions,
  adamUpdate,
  cooldown,
  type Optimizer,
  SGD,
  type SGDOptions,
  sgdUpdate,
} from "./optim.ts";
export { type ReadoutOptions, SoftmaxReadout } from "./readout.ts";
export { shiftImages } from "./augment.ts";
export { deriveSeed, normal, type Random, randperm, seededRandom, uniform } from "./random.ts";
export { type Fusable, fusable } from "./fusable.ts";
