// Unsupervised FF with hybrid negatives (issue #23, part 1): the masks and hybrids against plain
// loops, seeded draws, a label-free network that learns, and the CLI's recipe end to end.
import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import {
  deriveSeed,
  FFNN,
  hybridMasks,
  hybridNegatives,
  loadMnistNpmSubset,
  loadNetwork,
  pick,
  recipe,
  seededRandom,
  tf,
} from "../lib/mod.ts";
import { errorRate } from "../lib/experiment.ts";

/** The mask as the paper describes it, written as plainly as possible: a 2-D array, a 3-tap loop. */
function plainMask(bits: number[][], blurs: number): number[][] {
  const n = bits.length;
  let image = bits.map((row) => [...row]);
  const at = (img: number[][], y: number, x: number) =>
    img[Math.min(n - 1, Math.max(0, y))][Math.min(n - 1, Math.max(0, x))];
  for (let b = 0; b < blurs; b++) {
    const rows = image.map((row, y) =>
      row.map((_, x) => at(image, y, x - 1) / 4 + at(image, y, x) / 2 + at(image, y, x + 1) / 4)
    );
    image = rows.map((row, y) =>
      row.map((_, x) => at(rows, y - 1, x) / 4 + at(rows, y, x) / 2 + at(rows, y + 1, x) / 4)
    );
  }
  return image.map((row) => row.map((v) => (v > 0.5 ? 1 : 0)));
}

Deno.test("a mask is the random bits blurred both ways and thresholded, as a plain loop does it", () => {
  for (const [side, blurs, seed] of [[28, 10, 3], [7, 1, 4], [9, 0, 5], [12, 6, 6]]) {
    const count = 3;
    const masks = hybridMasks(count, side * side, { blurs, seed });
    // The bits, drawn as documented: random() < 0.5, pixel after pixel, mask after mask.
    const random = seededRandom(seed);
    for (let m = 0; m < count; m++) {
      const bits = Array.from(
        { length: side },
        () => Array.from({ length: side }, () => (random() < 0.5 ? 1 : 0)),
      );
      const got = Array.from(masks.subarray(m * side * side, (m + 1) * side * side));
      assertEquals(got, plainMask(bits, blurs).flat(), `side ${side}, ${blurs} blurs, mask ${m}`);
    }
  }
});

Deno.test("masks are 1 about half the time, everywhere, and their regions grow with the blurs", () => {
  const pixels = 784;
  const masks = hybridMasks(2000, pixels, { seed: 11 });
  const mean = masks.reduce((a, b) => a + b) / masks.length;
  assert(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  // The border too: the first row's pixels.
  let border = 0;
  for (let m = 0; m < 2000; m++) for (let x = 0; x < 28; x++) border += masks[m * pixels + x];
  assert(Math.abs(border / (2000 * 28) - 0.5) < 0.03, `border mean ${border / (2000 * 28)}`);
  // Neighbours agree more often after more blurs: larger regions.
  const agreement = (blurs: number) => {
    const m = hybridMasks(200, pixels, { seed: 12, blurs });
    let same = 0;
    for (let i = 0; i < m.length; i++) if (i % 28 !== 27 && m[i] === m[i + 1]) same++;
    return same / (200 * 27 * 28);
  };
  const [none, six, ten] = [agreement(0), agreement(6), agreement(10)];
  assert(none < 0.55 && six > 0.85 && ten > six, `agreement ${none}, ${six}, ${ten}`);
});

Deno.test("each hybrid pixel comes from a or b as the mask says, b another image, seeded", () => {
  const [count, pixels] = [50, 64];
  const random = seededRandom(21);
  const images = Float32Array.from({ length: count * pixels }, () => random());
  const rows = Int32Array.from({ length: 120 }, (_, i) => (i * 7) % count);
  const { images: hybrids, masks, partners } = hybridNegatives(images, rows, {
    pixels,
    blurs: 3,
    seed: 9,
  });
  assertEquals(masks, hybridMasks(rows.length, pixels, { blurs: 3, seed: masksSeed(9) }));
  let fromA = 0;
  for (let i = 0; i < rows.length; i++) {
    assertNotEquals(partners[i], rows[i], `hybrid ${i}: b must be another image`);
    assert(partners[i] >= 0 && partners[i] < count);
    for (let p = 0; p < pixels; p++) {
      const [a, b] = [images[rows[i] * pixels + p], images[partners[i] * pixels + p]];
      const mask = masks[i * pixels + p];
      assertEquals(hybrids[i * pixels + p], a * mask + b * (1 - mask));
      fromA += mask;
    }
  }
  assert(fromA > 0 && fromA < rows.length * pixels, "both images contribute");
  // Partners spread over the pool, not a fixed neighbour.
  assert(new Set(partners).size > count / 2, `${new Set(partners).size} distinct partners`);
  // The same seed, the same hybrids; another seed (the next epoch's), others.
  const again = hybridNegatives(images, rows, { pixels, blurs: 3, seed: 9 });
  assertEquals(again.images, hybrids);
  assertEquals(again.partners, partners);
  const next = hybridNegatives(images, rows, { pixels, blurs: 3, seed: 10 });
  assertNotEquals(next.masks, masks);
  assertNotEquals(next.partners, partners);
});

/** The masks' seed inside hybridNegatives, as its documentation says: deriveSeed(seed, 1). */
function masksSeed(seed: number): number {
  return deriveSeed(seed, 1);
}

Deno.test("bad mask and hybrid settings stop with one line naming the setting", () => {
  assertThrows(() => hybridMasks(2, 784, { blurs: -1 }), Error, "blurs must be a whole number");
  assertThrows(() => hybridMasks(2, 784, { blurs: 1.5 }), Error, "blurs must be a whole number");
  assertThrows(() => hybridMasks(2, 780), Error, "pixels must be a square number");
  assertThrows(
    () => hybridNegatives(new Float32Array(784), [0]),
    Error,
    "a hybrid needs two different images",
  );
  assertThrows(
    () => hybridNegatives(new Float32Array(784 * 3), [3]),
    Error,
    "rows[0] = 3 is not an image: use 0..2",
  );
  assertThrows(
    () => recipe("unsupervised-quick", { blurs: -2 }),
    Error,
    "blurs must be a whole number of blurs, 0 or more, got -2",
  );
  assertThrows(
    () => recipe("hinton", { blurs: 6 }),
    Error,
    'blurs shape the masks of negatives "hybrid"',
  );
  assertThrows(
    () => recipe("unsupervised-quick", { negatives: "hard" }),
    Error,
    'label "none" leaves no label to make negatives "hard" of',
  );
  assertThrows(() => recipe("unsupervised-quick", { readout: null }), Error, "turn the readout on");
  assertThrows(
    () => recipe("unsupervised-quick", { batchSize: undefined }),
    Error,
    "mini-batches only",
  );
});

Deno.test("a label-free network learns real digits against hybrids; its softmax readout beats chance", async () => {
  const subset = await loadMnistNpmSubset(); // 8,000 training digits, 2,000 test
  const pixels = 784;
  const before = tf.memory().numTensors;
  const train = pick(subset.train, Int32Array.from({ length: 1000 }, (_, i) => i));
  const test = pick(subset.test, Int32Array.from({ length: 500 }, (_, i) => i));
  const net = new FFNN([pixels, 200, 200], {
    label: "none",
    goodness: "sum",
    normalize: "rms",
    optimizer: "sgd",
    learningRate: 0.01,
    peerNormalization: 0.03,
    init: "normal",
    seed: 3,
    readout: { fromLayer: 0 },
  });
  try {
    assertEquals(net.readouts, ["softmax"]);
    assertThrows(() => net.predict(test.x, { readout: "goodness" }), Error, 'predict by "softmax"');
    assertThrows(() => net.goodnessPerLabel(test.x), Error, "has none");
    const epochs: number[] = [];
    await net.trainMiniBatch(train.x, train.y, {
      batchSize: 50,
      epochs: 4,
      negatives: "hybrid",
      blurs: 6,
      seed: 4,
      onEpoch: () => void epochs.push(tf.memory().numTensors),
    });
    assertEquals(new Set(epochs).size, 1, `tensors per epoch: ${epochs}`);
    for (const losses of net.losses) {
      assert(losses.at(-1)! < losses[0], `a layer's loss did not fall: ${losses}`);
    }
    const error = await errorRate(net, test.x, test.y, "softmax");
    assert(error < 0.5, `softmax readout error ${error} (chance: 0.9)`);
    // The default readout of a network without labels is its softmax.
    const [byDefault, bySoftmax] = [
      net.predict(test.x),
      net.predict(test.x, { readout: "softmax" }),
    ];
    assertEquals(await byDefault.data(), await bySoftmax.data());
    tf.dispose([byDefault, bySoftmax]);
    // Saved and loaded, it predicts the same.
    const path = `${await Deno.makeTempDir()}/weights.ffw`;
    const { saveNetwork } = await import("../lib/weights.ts");
    await saveNetwork(net, path);
    const loaded = await loadNetwork(path);
    assertEquals((loaded as FFNN).label, "none");
    assertEquals(await errorRate(loaded, test.x, test.y, "softmax"), error);
    loaded.dispose();
  } finally {
    net.dispose();
    tf.dispose([train.x, test.x]);
  }
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("hybrid negatives and label none go together, named as options", async () => {
  const x = tf.randomUniform([20, 16], 0, 1, "float32", 1) as tf.Tensor2D;
  const y = Array.from({ length: 20 }, (_, i) => i % 10);
  const labelled = new FFNN([16, 8], { label: "overlay", seed: 1 });
  const unlabelled = new FFNN([16, 8], { label: "none", seed: 1, readout: { fromLayer: 0 } });
  try {
    const options = { batchSize: 10, epochs: 1 };
    await assertRejectsWith(
      () => labelled.trainMiniBatch(x, y, { ...options, negatives: "hybrid" }),
      'build it with label "none"',
    );
    await assertRejectsWith(
      () => unlabelled.trainMiniBatch(x, y, { ...options, negatives: "permute" }),
      'use negatives "hybrid"',
    );
    await assertRejectsWith(
      () => unlabelled.trainMiniBatch(x, y, { ...options, negatives: "hybrid", blurs: -1 }),
      "blurs must be a whole number",
    );
  } finally {
    x.dispose();
    labelled.dispose();
    unlabelled.dispose();
  }
});

async function assertRejectsWith(f: () => Promise<unknown>, text: string) {
  let message = "";
  try {
    await f();
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes(text), `expected an error with "${text}", got "${message}"`);
}

Deno.test("`deno task train --recipe unsupervised-quick` runs as a process and writes only the softmax readout", async () => {
  const out = `${await Deno.makeTempDir()}/run`;
  const cli = new URL("../cli/train.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, ...args],
      env: { FF_BACKEND: "auto" },
    }).output();
    return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
  };
  const bad = await run("--recipe", "unsupervised-quick", "--blurs", "-1");
  assertEquals(bad.code, 1);
  assertEquals(bad.err.trim().split("\n").length, 1, bad.err);
  assert(bad.err.includes('--blurs must be an integer >= 0, got "-1"'), bad.err);
  const mixed = await run("--recipe", "unsupervised-quick", "--negatives", "permute");
  assertEquals(mixed.code, 1);
  assert(mixed.err.includes('set --negatives "hybrid"'), mixed.err);

  const { code, out: printed, err } = await run(
    "--recipe",
    "unsupervised-quick",
    "--train-size",
    "300",
    "--epochs",
    "1",
    "--layers",
    "100,100,100",
    "--blurs",
    "6",
    "--out",
    out,
  );
  assertEquals(code, 0, err);
  assert(!/goodness/.test(printed), printed);
  const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
  assertEquals(Object.keys(metrics.errors), ["softmax"]);
  assertEquals(metrics.readout, "softmax");
  assertEquals(metrics.config.label, "none");
  assertEquals(metrics.config.blurs, 6);
  assert(metrics.test_error < 0.9, `test error ${metrics.test_error}`);
  const report = await Deno.readTextFile(`${out}/report.html`);
  assert(!report.includes("test error (goodness"), "the report lists a goodness readout");
  const net = await loadNetwork(`${out}/weights.ffw`);
  assertEquals(net.readouts, ["softmax"]);
  net.dispose();
});
