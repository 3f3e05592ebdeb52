/**
 * Data: MNIST and Fashion-MNIST, read from their IDX files, checked and scaled; fetched with
 * checksums; split into training, validation and test images; picked into tensors.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadMnistOrSubset, pick, splitValidation } from "./mod.ts";
 * const data = splitValidation(await loadMnistOrSubset("data/mnist"));
 * const { x, y } = pick(data.validation, [0, 1, 2]);
 * assertEquals([x.shape, y.length], [[3, 784], 3]);
 * ```
 *
 * @module
 */
import { tf } from "../deps.ts";
import { fetchMnist } from "./fetch.ts";
import {
  type DatasetName,
  DATASETS,
  IMAGE_SIZE,
  loadDataset,
  loadMnistOrSubset,
  type LoadOptions,
  type Mnist,
  MNIST_FILES,
  type MnistSplit,
} from "./mnist.ts";

export {
  DatasetMismatchError,
  type DatasetName,
  DATASETS,
  howToFetch,
  IMAGE_SIZE,
  loadDataset,
  loadMnist,
  loadMnistNpmSubset,
  loadMnistOrSubset,
  type LoadOptions,
  type Mnist,
  MNIST_FILES,
  type MnistSplit,
  normalisePixels,
  type PixelScale,
} from "./mnist.ts";
export {
  fetchMnist,
  type FetchMnistOptions,
  type FetchMnistResult,
  MNIST_SHA256,
} from "./fetch.ts";

/**
 * The dataset `name` from `dir`, as `deno task train` gets it: for MNIST, the files `dir` lacks
 * fetched first ({@linkcode fetchMnist}, which writes only where nothing of the user's is lost),
 * and the npm subset, loudly, where no mirror answers; Fashion-MNIST read where it is. Either way
 * the files are recognised, and a folder of the other dataset throws a
 * {@linkcode DatasetMismatchError}.
 *
 * @param log progress of the fetch, one line at a time; default `console.log`
 *
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * import { DatasetMismatchError, loadOrFetch } from "./mod.ts";
 * // data/mnist holds MNIST: asked for Fashion-MNIST, it says so rather than mislabel it.
 * await assertRejects(() => loadOrFetch("fashion-mnist", "data/mnist"), DatasetMismatchError);
 * ```
 */
export async function loadOrFetch(
  name: DatasetName,
  dir: string = DATASETS[name]?.dir,
  options: LoadOptions & { log?: (line: string) => void } = {},
): Promise<Mnist> {
  const { log, ...load } = options;
  if (name !== "mnist") return await loadDataset(name, dir, load);
  for (const file of Object.values(MNIST_FILES)) {
    if (!await isFile(`${dir}/${file}`)) {
      await fetchMnist({ dir, log });
      break;
    }
  }
  return await loadMnistOrSubset(dir, load);
}

async function isFile(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Images [count, 784] and labels of the rows `indices` of a split.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadMnistOrSubset, pick } from "./mod.ts";
 * const mnist = await loadMnistOrSubset("data/mnist");
 * const { x, y } = pick(mnist.test, Array.from({ length: 100 }, (_, i) => i));
 * assertEquals([x.shape, y[0]], [[100, 784], 7]); // the first test digit is a 7
 * ```
 */
export function pick(split: MnistSplit, indices: ArrayLike<number>): {
  x: tf.Tensor2D;
  y: Int32Array;
} {
  const images = new Float32Array(indices.length * IMAGE_SIZE);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i];
    if (!Number.isInteger(row) || row < 0 || row >= split.count) {
      throw new Error(`index ${row} is outside the split's ${split.count} images`);
    }
    images.set(split.images.subarray(row * IMAGE_SIZE, (row + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    y[i] = split.labels[row];
  }
  return { x: tf.tensor2d(images, [indices.length, IMAGE_SIZE]), y };
}

/** Every image of a split, as {@linkcode pick} gives them. */
export function pickAll(split: MnistSplit): { x: tf.Tensor2D; y: Int32Array } {
  return pick(split, Array.from({ length: split.count }, (_, i) => i));
}

/**
 * The first `count` images of a split (all of them if it has fewer).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { firstImages, loadMnistOrSubset } from "./mod.ts";
 * const few = firstImages((await loadMnistOrSubset()).test, 500);
 * assertEquals(few.count, 500);
 * ```
 */
export function firstImages(split: MnistSplit, count: number): MnistSplit {
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`the number of images must be a positive integer, got ${count}`);
  }
  if (count >= split.count) return split;
  return {
    images: split.images.subarray(0, count * IMAGE_SIZE),
    labels: split.labels.subarray(0, count),
    count,
  };
}

/** Training images, the validation images held out of them, and the test images. */
export interface Splits extends Mnist {
  validation: MnistSplit;
}

/**
 * Holds the last training images out for validation: 10,000 of MNIST's 60,000 (Hinton's split),
 * a sixth of smaller sets, or `size` if fewer. Choices (readout, epochs) are made on validation, never on test.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadMnistOrSubset, splitValidation } from "./mod.ts";
 * const { train, validation } = splitValidation(await loadMnistOrSubset());
 * assertEquals([train.count, validation.count], [50_000, 10_000]);
 * ```
 */
export function splitValidation(data: Mnist, size = 10_000): Splits {
  const { train } = data;
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`the validation size must be a positive integer, got ${size}`);
  }
  const held = Math.min(size, Math.floor(train.count / 6));
  const kept = train.count - held;
  const part = (start: number, end: number): MnistSplit => ({
    images: train.images.subarray(start * IMAGE_SIZE, end * IMAGE_SIZE),
    labels: train.labels.subarray(start, end),
    count: end - start,
  });
  return { ...data, train: part(0, kept), validation: part(kept, train.count) };
}
