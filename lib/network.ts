/**
 * A Forward-Forward network: layers trained one after another, each on the previous layer's
 * outputs, and a prediction that tries every label and keeps the one the network finds best.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { combineXY, type LabelMode, negativeLabels, type NegativeMode } from "./data.ts";
import { randperm } from "./random.ts";
import { goodness } from "./goodness.ts";
import { writeFileAtomic } from "./files.ts";
import { type EpochCallback, Layer, type LayerOptions, normalizeRows } from "./layer.ts";

/** Options of an {@linkcode FFNN}: every {@linkcode LayerOptions} applies to each layer. */
export interface FFNNOptions extends Omit<LayerOptions, "weight" | "bias"> {
  /** Initial weights per layer ([out, in] and [out]), e.g. to reproduce a torch run. */
  layers?: { weight: number[][] | tf.Tensor2D; bias: number[] | tf.Tensor1D }[];
  /** Number of labels tried by `predict`. Default 10. */
  numClasses?: number;
  /** How labels were attached to the training data. Default "concat", as in the post. */
  label?: LabelMode;
}

/**
 * A stack of Forward-Forward layers.
 *
 * @example
 * ```ts
 * const net = new FFNN([794, 500, 500], { epochs: 100, seed: 1 });
 * await net.train(combineXY(x, y), combineXY(x, negativeLabels(y)));
 * const predicted = net.predict(xTest); // [n] labels
 * ```
 */
export class FFNN {
  readonly dims: number[];
  readonly layers: Layer[];
  readonly numClasses: number;
  readonly label: LabelMode;

  constructor(dims: number[], options: FFNNOptions = {}) {
    if (dims.length < 2 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(
        `dims must list at least two positive integers (input width, then each layer's width), got ${
          JSON.stringify(dims)
        }`,
      );
    }
    const { layers = [], numClasses = 10, label = "concat", seed = 0, ...shared } = options;
    if (layers.length > 0 && layers.length !== dims.length - 1) {
      throw new Error(
        `got initial weights for ${layers.length} layers, dims make ${dims.length - 1}`,
      );
    }
    this.dims = [...dims];
    this.numClasses = numClasses;
    this.label = label;
    this.layers = dims.slice(1).map((out, i) =>
      new Layer(dims[i], out, { ...shared, seed: seed + i, ...layers[i] })
    );
  }

  /** Trains the layers greedily: layer i learns from layer i-1's outputs, never its gradients. */
  async train(
    xPositive: tf.Tensor2D,
    xNegative: tf.Tensor2D,
    { onEpoch }: { onEpoch?: EpochCallback } = {},
  ): Promise<void> {
    let [hPositive, hNegative] = [xPositive, xNegative];
    for (const [i, layer] of this.layers.entries()) {
      const [nextPositive, nextNegative] = await layer.train(hPositive, hNegative, {
        onEpoch,
        layer: i,
        layers: this.layers.length,
      });
      if (i > 0) tf.dispose([hPositive, hNegative]);
      [hPositive, hNegative] = [nextPositive, nextNegative];
    }
    tf.dispose([hPositive, hNegative]);
  }

  /**
   * Mini-batch training, which the post does not do: every epoch shuffles the images, draws
   * fresh negative labels, and on every batch each layer takes one Adam step and hands its
   * outputs to the next. Same loss, same optimiser; `losses` records each epoch's mean batch
   * loss per layer, and `onEpoch` hears once per epoch (layer 0 of 1, the layers' mean loss).
   *
   * @param x images without labels, [n, features]
   * @param y their labels
   */
  async trainMiniBatch(
    x: tf.Tensor2D,
    y: Int32Array,
    { batchSize, epochs, negatives = "permute", seed = 0, onEpoch }: {
      batchSize: number;
      epochs: number;
      negatives?: NegativeMode;
      seed?: number;
      onEpoch?: EpochCallback;
    },
  ): Promise<void> {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    }
    const rows = x.shape[0];
    for (const layer of this.layers) layer.losses = [];
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = randperm(rows, seed + epoch);
      const yNegative = negativeLabels(y, {
        mode: negatives,
        seed: seed + epoch,
        numClasses: this.numClasses,
      });
      const sums = this.layers.map(() => 0);
      let batches = 0;
      for (let start = 0; start < rows; start += batchSize) {
        const batch = order.subarray(start, Math.min(start + batchSize, rows));
        const losses = tf.tidy(() => {
          const xBatch = tf.gather(x, tf.tensor1d(batch, "int32")) as tf.Tensor2D;
          let hPositive = combineXY(
            xBatch,
            Array.from(batch, (i) => y[i]),
            this.numClasses,
            this.label,
          );
          let hNegative = combineXY(
            xBatch,
            Array.from(batch, (i) => yNegative[i]),
            this.numClasses,
            this.label,
          );
          return this.layers.map((layer) => {
            const step = layer.step(hPositive, hNegative);
            [hPositive, hNegative] = [step.hPositive, step.hNegative];
            return step.loss;
          });
        });
        const values = await Promise.all(losses.map((loss) => loss.data()));
        tf.dispose(losses);
        values.forEach((value, i) => sums[i] += value[0]);
        batches++;
      }
      for (const [i, layer] of this.layers.entries()) {
        const loss = sums[i] / batches;
        if (!Number.isFinite(loss)) {
          throw new Error(
            `layer ${i} loss became ${loss} at epoch ${epoch}: lower the learning rate`,
          );
        }
        layer.losses.push(loss);
      }
      // Every layer learns in every epoch here, so progress counts epochs of the whole
      // network (as one "layer"), with the layers' mean loss.
      const loss = sums.reduce((a, b) => a + b) / (batches * sums.length);
      await onEpoch?.({ layer: 0, layers: 1, epoch, epochs, loss });
    }
  }

  /**
   * Goodness summed over all layers with each label attached to x: [n, numClasses].
   * x holds images only; the label is attached here the way it was for training.
   */
  goodnessPerLabel(x: tf.Tensor2D): tf.Tensor2D {
    const [first, ...rest] = this.layers;
    const rows = x.shape[0];
    // The first layer sees [image, label]: the label changes only the one-hot entry, and the
    // row's length, hence its normalisation, is the same for every label. So the first product
    // is computed once, for label 0, and label k adds a rank-one term:
    //   z_k = z_0 + c (w_k - w_0)ᵀ,  c = the normalised label entry, w_k = W's column of label k
    // (the same numbers as attaching each label and running the layer; tests check both ways).
    const [z0, c] = tf.tidy(() => {
      const x0 = normalizeRows(combineXY(x, new Int32Array(rows), this.numClasses, this.label));
      const column = this.labelColumn(x, 0);
      return [
        first.affine(x0, "linear"),
        tf.slice(x0, [0, column], [rows, 1]),
      ];
    });
    // One label at a time, each in its own scope: all ten at once would take ten copies of
    // the activations (gigabytes at 50,000 images).
    const perLabel = Array.from({ length: this.numClasses }, (_, label) =>
      tf.tidy(() => {
        const w = (k: number) => tf.slice(first.weight, [0, this.labelColumn(x, k)], [-1, 1]);
        const shift = tf.transpose(tf.sub(w(label), w(0)));
        // tfjs 4.22's wasm fused product takes only a rank-1 bias.
        let h: tf.Tensor2D = tf.getBackend() === "wasm"
          ? tf.relu(tf.add(z0, tf.matMul(c, shift)))
          : tf.fused.matMul({ a: c, b: shift, bias: z0, activation: "relu" }) as tf.Tensor2D;
        let total = goodness(h);
        for (const layer of rest) {
          h = layer.forward(h);
          total = tf.add(total, goodness(h));
        }
        return total;
      }));
    const stacked = tf.stack(perLabel, 1) as tf.Tensor2D;
    tf.dispose([...perLabel, z0, c]);
    return stacked;
  }

  /** Index of label k's one-hot entry in the first layer's input. */
  private labelColumn(x: tf.Tensor2D, k: number): number {
    return this.label === "concat" ? x.shape[1] + k : k;
  }

  /** The label with the most goodness for every row of x: [n] int32. */
  predict(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.argMax(this.goodnessPerLabel(x), 1));
  }

  /** The losses of every layer's last training, one array per layer. */
  get losses(): number[][] {
    return this.layers.map((layer) => layer.losses);
  }

  /**
   * Writes the weights (with shapes, options and a format version) to a JSON file, atomically:
   * a temporary file is written first and renamed, so an existing file is never half-replaced.
   */
  async save(path: string): Promise<void> {
    const layers = await Promise.all(this.layers.map(async (layer) => ({
      weight: await encodeTensor(layer.weight),
      bias: await encodeTensor(layer.bias),
    })));
    const first = this.layers[0];
    const saved: SavedFFNN = {
      format: FORMAT,
      version: VERSION,
      dims: this.dims,
      numClasses: this.numClasses,
      label: this.label,
      threshold: first.threshold,
      learningRate: first.learningRate,
      epochs: first.epochs,
      layers,
    };
    await writeFileAtomic(path, JSON.stringify(saved));
  }

  /** Reads a network written by {@linkcode FFNN.save}. */
  static async load(path: string): Promise<FFNN> {
    let saved: SavedFFNN;
    try {
      saved = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      throw new Error(`cannot read weights from ${path}: ${(e as Error).message.split("\n")[0]}`);
    }
    if (saved?.format !== FORMAT || saved.version !== VERSION) {
      throw new Error(
        `${path} is not an ff-notebooks weights file of version ${VERSION} (format ${saved?.format}, version ${saved?.version})`,
      );
    }
    const { dims, numClasses, label, threshold, learningRate, epochs } = saved;
    const layers = saved.layers.map(({ weight, bias }, i) => ({
      weight: decodeTensor(weight, [dims[i + 1], dims[i]], path) as tf.Tensor2D,
      bias: decodeTensor(bias, [dims[i + 1]], path) as tf.Tensor1D,
    }));
    try {
      return new FFNN(dims, { numClasses, label, threshold, learningRate, epochs, layers });
    } finally {
      tf.dispose(layers.flatMap(({ weight, bias }) => [weight, bias]));
    }
  }

  /** Frees every layer. */
  dispose(): void {
    for (const layer of this.layers) layer.dispose();
  }
}

const FORMAT = "ff-notebooks/ffnn";
const VERSION = 1;

interface SavedTensor {
  shape: number[];
  dtype: "float32";
  /** Little-endian float32 bytes, base64. */
  data: string;
}

interface SavedFFNN {
  format: string;
  version: number;
  dims: number[];
  numClasses: number;
  label: LabelMode;
  threshold: number;
  learningRate: number;
  epochs: number;
  layers: { weight: SavedTensor; bias: SavedTensor }[];
}

async function encodeTensor(t: tf.Tensor): Promise<SavedTensor> {
  const values = new Float32Array(await t.data());
  return { shape: t.shape, dtype: "float32", data: encodeBase64(new Uint8Array(values.buffer)) };
}

function decodeTensor(saved: SavedTensor, shape: number[], path: string): tf.Tensor {
  const bytes = decodeBase64(saved.data);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!tf.util.arraysEqual(saved.shape, shape) || bytes.length !== count * 4) {
    throw new Error(
      `${path}: a tensor of shape ${
        JSON.stringify(saved.shape)
      } (${bytes.length} bytes) does not fit ${JSON.stringify(shape)}; the file is damaged`,
    );
  }
  return tf.tensor(new Float32Array(bytes.buffer, bytes.byteOffset, count), shape);
}

// Deno has no built-in base64 for bytes outside JSR's std; these two lines are all we need.
function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
