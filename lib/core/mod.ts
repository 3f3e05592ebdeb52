/**
 * The Forward-Forward core: the ideas of the post and of Hinton's paper, in plain TensorFlow.js
 * ops, and nothing else. Copy this folder alone into a project and it runs (on tfjs's cpu
 * backend; lib/backends/ adds fast ones).
 *
 * - data.ts: positive and negative data (labels written into images; permuted, wrong, hard)
 * - hybrid.ts: unsupervised negatives, two digits under a blurred random mask
 * - goodness.ts: goodness and the FF loss, with its gradient
 * - layer.ts: a layer that learns on its own (normalisation, peer normalisation, dropout)
 * - network.ts: layers trained one after another or together; prediction by goodness or softmax
 * - optim.ts: Adam (the post), SGD with a weight cost and a cooldown (Hinton)
 * - readout.ts: Hinton's softmax readout; augment.ts: shifted images; random.ts: seeds
 * - check.ts: what the core refuses (unknown options, values out of range, NaN in the data)
 *
 * Backends: tfjs's cpu backend as it comes, and the ones lib/backends/ sets up (blas, wasm,
 * webgpu, tensorflow). tfjs's own wasm backend, set directly, computes two of the fused products
 * used here wrongly, and the core refuses it, saying so.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { combineXY, FFNN, negativeLabels, tf } from "./mod.ts";
 *
 * // 200 points in 20 dimensions, 10 classes, each class a cluster of its own.
 * const y = Array.from({ length: 200 }, (_, i) => i % 10);
 * const centres = tf.randomNormal([10, 20], 0, 1, "float32", 3);
 * const x = tf.add(tf.gather(centres, y), tf.randomNormal([200, 20], 0, 0.3, "float32", 4)) as tf.Tensor2D;
 * const net = new FFNN([30, 100], { epochs: 100, seed: 1 });
 * await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { mode: "wrong", seed: 2 })));
 * const right = (await net.predict(x).data()).filter((label, i) => label === y[i]).length;
 * assert(right > 150, `${right} of 200 right`); // chance: about 20
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
  checkBlurs,
  DEFAULT_BLURS,
  hybridMasks,
  hybridNegatives,
  type HybridOptions,
  type Hybrids,
  type MaskOptions,
} from "./hybrid.ts";
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
  likelySetting,
  normalizeRows,
  type NormKind,
  type Setting,
  TrainingDiverged,
} from "./layer.ts";
export {
  denseWeight,
  localGeometries,
  type LocalGeometry,
  type LocalInput,
  type LocalSpec,
} from "./local.ts";
export {
  FFNN,
  type FFNNOptions,
  type MiniBatchOptions,
  type PixelStats,
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
export { type Network, RecurrentFF, type RecurrentOptions } from "./recurrent.ts";
export { shiftImages } from "./augment.ts";
export { deriveSeed, normal, type Random, randperm, seededRandom, uniform } from "./random.ts";
export { type Fusable, fusable } from "./fusable.ts";
