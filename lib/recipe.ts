/**
 * What a recipe is: every setting of a run, as a plain object. The recipes themselves, and the
 * experiment that runs one, are in ./experiment.ts; this type stands apart so that checkpoints
 * and weights files, which store a recipe, need not import the experiment that uses them.
 *
 * @module
 */
import type {
  GoodnessKind,
  LabelMode,
  LocalSpec,
  NegativeMode,
  NormKind,
  ReadoutOptions,
} from "./core/mod.ts";
import type { PixelScale } from "./data/mod.ts";

/** Everything that defines a run. */
export interface Recipe {
  /** Its name, as `--recipe` takes it. */
  name: string;
  /** One line on what it is. */
  description: string;
  /** How pixels are scaled. */
  pixels: PixelScale;
  /** Widths of the hidden layers (the input width follows from the label mode). */
  layers: number[];
  /**
   * Locally connected first layers, one geometry each (lib/core/local.ts); each one's units,
   * grid × channels, must be its width in `layers`. Absent: every layer dense.
   */
  local?: LocalSpec[];
  label: LabelMode;
  labelValue: "max" | number;
  normalize: NormKind;
  goodness: GoodnessKind;
  /** θ; absent: 2 for "mean" goodness, each layer's width for "sum". */
  threshold?: number;
  optimizer: "adam" | "sgd";
  learningRate: number;
  momentum: number;
  weightDecay: number;
  peerNormalization: number;
  init: "uniform" | "normal";
  /** Absent: the post's full batch, one layer after another. Else all layers on every batch. */
  batchSize?: number;
  /** Epochs per layer (full batch) or passes over the images (mini-batches). */
  epochs: number;
  negatives: NegativeMode;
  /** Hinton's linear cooldown over the second half (mini-batches only). */
  cooldown: boolean;
  /** Shift each image by up to this many pixels, every epoch anew (mini-batches only). */
  shift: number;
  /** Dropout of each layer's units in training (mini-batches only). */
  dropout: number;
  /** Negatives "hybrid": blurs of each mask's random bits (absent: 10; see lib/core/hybrid.ts). */
  blurs?: number;
  /** Hinton's softmax readout, or null for none. */
  readout: (ReadoutOptions & { fromLayer: number }) | null;
  /**
   * The paper's recurrent, top-down network (lib/core/recurrent.ts) with these step settings;
   * absent: a feed-forward stack. Recurrent recipes train on mini-batches; the label is the top
   * layer, so `label` and `labelValue` do not apply, nor do `shift` and `dropout`.
   */
  recurrent?: {
    iterations: number;
    damping: number;
    testIterations: [number, number];
    /** The label's length at the top; absent: the network's default (lib/core/recurrent.ts). */
    labelLength?: number;
  };
  /** Training images, drawn (seeded) from the training split; absent: all of it. */
  trainSize?: number;
  seed: number;
}
