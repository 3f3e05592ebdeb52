// Locally connected layers (lib/core/local.ts): each equal to the dense layer whose weights are
// zero outside every patch (forward, loss, gradients, SGD steps), the paper's geometry, seeded
// repeats, memory, saving, checkpoints, the CLI, and bad geometry.
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  denseWeight,
  FFNN,
  IMAGE_SIZE,
  Layer,
  loadNetwork,
  localGeometries,
  type LocalGeometry,
  type LocalSpec,
  type Mnist,
  recipe,
  RECIPES,
  runExperiment,
  saveNetwork,
  seededRandom,
  setBackend,
  tf,
  TrainingInterrupted,
} from "../lib/mod.ts";
import { registerBlasBackend } from "../lib/backends/blas.ts";
import { localAffine, localWeightGradient } from "../lib/core/local.ts";
import { ignoreUnless, sharedPath, webgpuMissing } from "./shared.ts";

// webgpu where there is an adapter (CI has lavapipe's): its products are tfjs's own WGSL kernels.
const BACKENDS = [
  "cpu",
  "wasm",
  ...(registerBlasBackend().ok ? ["blas"] : []),
  ...(await webgpuMissing() ? [] : ["webgpu"]),
];
await setBackend("cpu");

const PAPER: LocalSpec[] = RECIPES["hinton-local"].local!;

/** 6 × 6 images with 2 label entries after them; 2 × 2 locations of 4 × 4 at stride 2, 3 units. */
const SMALL: LocalSpec[] = [
  { grid: [2, 2], patch: [4, 4], stride: 2, channels: 3 },
  { grid: [1, 2], patch: [2, 1], stride: 1, channels: 4 },
];
const SMALL_DIMS = [38, 12, 8];
const smallGeometries = () =>
  localGeometries(SMALL, { image: [6, 6, 1], shared: [36, 37], dims: SMALL_DIMS });

/** Rows of random values, seeded. */
function rows(count: number, width: number, seed: number): tf.Tensor2D {
  const random = seededRandom(seed);
  return tf.tensor2d(Array.from({ length: count * width }, () => random() * 2 - 0.5), [
    count,
    width,
  ]);
}

/** 1 inside each unit's patch, 0 elsewhere: [out, in]. */
function mask(geometry: LocalGeometry, inFeatures: number): number[][] {
  return geometry.patches.flatMap((inputs) =>
    Array.from({ length: geometry.channels }, () => {
      const row = new Array(inFeatures).fill(0);
      for (const i of inputs) row[i] = 1;
      return row;
    })
  );
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tolerance = 1e-5) {
  assertEquals(a.length, b.length, what);
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) {
    assert(Math.abs(a[i] - b[i]) <= tolerance * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

const OPTIONS = {
  normalize: "rms",
  goodness: "sum",
  optimizer: "sgd",
  learningRate: 0.05,
  momentum: 0.9,
  weightDecay: 0.01,
  peerNormalization: 0.03,
  init: "normal",
} as const;

Deno.test("the paper's net: units, inputs per unit, and 10 × 10 patches at stride 6 covering 28 × 28 exactly", () => {
  const label = Array.from({ length: 10 }, (_, k) => IMAGE_SIZE + k);
  const geometries = localGeometries(PAPER, {
    image: [28, 28, 1],
    shared: label,
    dims: [IMAGE_SIZE + 10, 2048, 1980, 2048],
  });
  assertEquals(geometries.map((g) => g.patches.length * g.channels), [2048, 1980, 2048]);
  assertEquals(geometries.map((g) => g.patches[0].length), [110, 512, 880]);
  const [h1, h2, h3] = geometries;
  // Every pixel seen, none outside the image, every location seeing the label.
  const seen = new Set(h1.patches.flatMap((inputs) => inputs.filter((i) => i < IMAGE_SIZE)));
  assertEquals(seen.size, IMAGE_SIZE);
  assert(h1.patches.every((inputs) => label.every((i) => inputs.includes(i))));
  // The bottom-right location's patch ends at pixel (27, 27); the top-left starts at (0, 0).
  assertEquals(h1.patches[15][99], IMAGE_SIZE - 1);
  assertEquals(h1.patches[0].slice(0, 11), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 28]);
  // Higher layers: 2 × 2 blocks of whole locations, all channels, the layer below fully seen.
  assertEquals(new Set(h2.patches.flat()).size, 2048);
  assertEquals(h2.patches[0].slice(0, 3), [0, 1, 2]);
  assertEquals(h2.patches[0][128], 128); // location (0, 1) of h1 follows (0, 0)'s channels
  assertEquals(h2.patches[0][256], 4 * 128); // then (1, 0)
  assertEquals(new Set(h3.patches.flat()).size, 1980);
  // About 3.0 M multiply-adds per image, as the reference says.
  const macs = geometries.reduce(
    (n, g) => n + g.patches.length * g.channels * g.patches[0].length,
    0,
  );
  assertEquals(macs, 2048 * 110 + 1980 * 512 + 2048 * 880);
  assert(Math.abs(macs / 3e6 - 1) < 0.02, `${macs}`);
});

for (const backend of BACKENDS) {
  Deno.test(`${backend}: a local layer is the dense layer with zeros outside each patch: forward, goodness, loss, gradients`, async () => {
    await setBackend(backend);
    try {
      const before = tf.memory().numTensors;
      const geometries = smallGeometries();
      for (const [i, geometry] of geometries.entries()) {
        const [inF, outF] = [SMALL_DIMS[i], SMALL_DIMS[i + 1]];
        const local = new Layer(inF, outF, { ...OPTIONS, seed: 5 + i, local: geometry });
        assertEquals(local.weight.shape, [outF, geometry.patches[0].length]);
        const weight = denseWeight(local.weight, geometry, inF);
        const dense = new Layer(inF, outF, { ...OPTIONS, weight, bias: local.bias });
        // The dense view is zero exactly outside the patches.
        const m = mask(geometry, inF).flat();
        const w = await weight.data();
        assert(m.every((inside, j) => inside === 1 || w[j] === 0));
        const xp = rows(7, inF, 1 + i);
        const xn = rows(7, inF, 2 + i);
        close(await local.forward(xp).data(), await dense.forward(xp).data(), "forward");
        close(await local.goodness(xn).data(), await dense.goodness(xn).data(), "goodness");
        close(await local.loss(xp, xn).data(), await dense.loss(xp, xn).data(), "loss");
        const g = local.gradients(xp, xn);
        const d = dense.gradients(xp, xn);
        close(await g.loss.data(), await d.loss.data(), "loss with the gradients");
        const maskedDense = tf.mul(d.weight, tf.tensor2d(mask(geometry, inF)));
        close(
          await denseWeight(g.weight, geometry, inF).data(),
          await maskedDense.data(),
          "weight gradient",
        );
        close(await g.bias.data(), await d.bias.data(), "bias gradient");
        // Peer normalisation's running means moved alike.
        close(await local.meanActivity!.data(), await dense.meanActivity!.data(), "mean activity");
        for (const label of [0, 5, inF - 1]) {
          close(
            await local.inputColumn(label).data(),
            await tf.slice(weight, [0, label], [-1, 1]).data(),
            `column ${label}`,
          );
        }
        tf.dispose([weight, xp, xn, g, d, maskedDense]);
        local.dispose();
        dense.dispose();
      }
      // Intermediate tensors of the checks above aside (denseWeight's views, inputColumn's).
      tf.disposeVariables();
      assert(tf.memory().numTensors - before < 40);
    } finally {
      await setBackend("cpu");
    }
  });

  Deno.test(`${backend}: SGD steps keep the zeros zero and move the rest as the dense masked gradient says`, async () => {
    await setBackend(backend);
    try {
      const [geometry] = smallGeometries();
      const [inF, outF] = [SMALL_DIMS[0], SMALL_DIMS[1]];
      const { learningRate: lr, momentum, weightDecay } = OPTIONS;
      const local = new Layer(inF, outF, { ...OPTIONS, seed: 9, local: geometry });
      // The reference: a dense layer whose gradient is masked, stepped by SGD's formula by hand.
      const dense = new Layer(inF, outF, {
        ...OPTIONS,
        weight: denseWeight(local.weight, geometry, inF),
        bias: local.bias,
      });
      const m = tf.tensor2d(mask(geometry, inF));
      let [vw, vb]: tf.Tensor[] = [tf.zerosLike(dense.weight), tf.zerosLike(dense.bias)];
      for (let step = 0; step < 4; step++) {
        const xp = rows(9, inF, 10 + step);
        const xn = rows(9, inF, 20 + step);
        const g = dense.gradients(xp, xn);
        const gw = tf.mul(g.weight, m);
        const nextVw = tf.add(tf.mul(vw, momentum), tf.mul(gw, 1 - momentum));
        const nextVb = tf.add(tf.mul(vb, momentum), tf.mul(g.bias, 1 - momentum));
        dense.weight.assign(
          tf.sub(tf.mul(dense.weight, 1 - lr * weightDecay), tf.mul(nextVw, lr)),
        );
        dense.bias.assign(tf.sub(dense.bias, tf.mul(nextVb, lr)));
        tf.dispose([vw, vb, g, gw]);
        [vw, vb] = [nextVw, nextVb];
        tf.dispose(local.step(xp, xn));
        tf.dispose([xp, xn]);
      }
      const stepped = denseWeight(local.weight, geometry, inF);
      const values = await stepped.data();
      const inside = await m.data();
      assert(values.some((v, j) => inside[j] === 1 && v !== 0));
      assert(values.every((v, j) => inside[j] === 1 || v === 0), "a zero outside a patch moved");
      close(values, await dense.weight.data(), "weights after 4 steps", 1e-4);
      close(await local.bias.data(), await dense.bias.data(), "bias after 4 steps", 1e-4);
      tf.dispose([stepped, m, vw, vb]);
      local.dispose();
      dense.dispose();
    } finally {
      await setBackend("cpu");
    }
  });
}

/** Random images and labels for a network over 6 × 6 images. */
function smallImages(count: number, seed: number) {
  const x = rows(count, 36, seed);
  const y = Int32Array.from({ length: count }, (_, i) => (i * 7 + seed) % 2);
  return { x, y };
}

for (const backend of ["cpu", ...(registerBlasBackend().ok ? ["blas"] : [])]) {
  Deno.test(`${backend}: mini-batch training of a local network repeats exactly for a seed, leaks no tensor, and saves and loads`, async () => {
    await setBackend(backend);
    try {
      const { x, y } = smallImages(60, 3);
      const train = async () => {
        const net = new FFNN(SMALL_DIMS, {
          ...OPTIONS,
          numClasses: 2,
          label: "concat",
          labelValue: 1,
          local: SMALL,
          readout: { fromLayer: 0 },
          seed: 4,
        });
        const counts: number[] = [];
        await net.trainMiniBatch(x, y, {
          batchSize: 20,
          epochs: 3,
          negatives: "hard",
          seed: 8,
          dropout: 0.1,
          cooldown: true,
          onEpoch: () => void counts.push(tf.memory().numTensors),
        });
        return { net, counts };
      };
      const a = await train();
      const b = await train();
      assertEquals(a.counts[0], a.counts[2], "tensors left behind by an epoch");
      for (const [i, v] of a.net.variables.entries()) {
        assertEquals(v.dataSync(), b.net.variables[i].dataSync(), `variable ${i}`);
      }
      const before = tf.memory().numTensors;
      const predicted = a.net.predictEach(x);
      // Prediction by goodness per label, against writing each label in and running every layer.
      const perLabel = tf.tidy(() =>
        tf.stack(
          [0, 1].map((k) => {
            let h = tf.concat(
              [x, tf.cast(tf.oneHot(tf.fill([60], k, "int32"), 2), "float32")],
              1,
            ) as tf.Tensor2D;
            return tf.addN(a.net.layers.map((layer) => tf.sum(tf.square(h = layer.forward(h)), 1)));
          }),
          1,
        )
      );
      const fast = a.net.goodnessPerLabel(x);
      close(fast.dataSync(), perLabel.dataSync(), "goodness per label", 1e-4);
      for (const path of ["weights.ffw", "weights.json"]) {
        const file = `${await Deno.makeTempDir()}/${path}`;
        await saveNetwork(a.net, file);
        const loaded = await loadNetwork(file);
        assertEquals(loaded.layers.map((l) => l.local), a.net.layers.map((l) => l.local));
        for (const [i, layer] of loaded.layers.entries()) {
          assertEquals(layer.weight.dataSync(), a.net.layers[i].weight.dataSync(), path);
        }
        const again = loaded.predictEach(x);
        for (const readout of a.net.readouts) {
          assertEquals(again[readout]!.dataSync(), predicted[readout]!.dataSync(), readout);
        }
        tf.dispose(Object.values(again));
        loaded.dispose();
      }
      tf.dispose([...Object.values(predicted), perLabel, fast]);
      assertEquals(tf.memory().numTensors, before);
      a.net.dispose();
      b.net.dispose();
      x.dispose();
    } finally {
      await setBackend("cpu");
    }
  });
}

/** Random images and labels of MNIST's size. */
function syntheticData(trainCount: number, testCount: number): Mnist {
  const random = seededRandom(11);
  const split = (count: number) => ({
    images: Float32Array.from({ length: count * IMAGE_SIZE }, () => random()),
    labels: Int32Array.from({ length: count }, () => Math.floor(random() * 10)),
    count,
  });
  return {
    train: split(trainCount),
    test: split(testCount),
    source: "synthetic",
    pixels: "unit",
    isSubset: false,
  };
}

Deno.test("hinton-local-quick, stopped after an epoch and resumed from its checkpoint, ends with the weights of a run never stopped", async () => {
  const data = syntheticData(300, 50);
  const r = recipe("hinton-local-quick", {
    layers: [32, 99, 32],
    local: PAPER.map((spec, i) => ({ ...spec, channels: [2, 11, 8][i] })),
    trainSize: 200,
    epochs: 2,
  });
  const options = { validationSize: 50 };
  const whole = await runExperiment(data, r, options);
  const dir = await Deno.makeTempDir();
  const controller = new AbortController();
  await assertRejects(
    () =>
      runExperiment(data, r, {
        ...options,
        checkpoint: { dir, signal: controller.signal },
        onEpoch: () => controller.abort(),
      }),
    TrainingInterrupted,
  );
  const resumed = await runExperiment(data, r, { ...options, checkpoint: { dir } });
  assertEquals(resumed.net.layers.map((l) => l.local), whole.net.layers.map((l) => l.local));
  for (const [i, v] of whole.net.variables.entries()) {
    assertEquals(resumed.net.variables[i].dataSync(), v.dataSync(), `variable ${i}`);
  }
  assertEquals(resumed.errors, whole.errors);
  whole.net.dispose();
  resumed.net.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bad geometry: one line naming the setting", () => {
  const tooFar = [{ ...PAPER[0], stride: 7 }];
  assertThrows(
    () => new FFNN([794, 2048], { label: "concat", local: tooFar }),
    Error,
    "local[0]: 4 patches of 10 at stride 7 reach 31 rows, but there are 28 pixels: lower " +
      "local[0].grid, .patch or .stride",
  );
  assertThrows(
    () => new FFNN([794, 2048, 1000], { label: "concat", local: PAPER.slice(0, 2) }),
    Error,
    "local[1] makes 1980 units (3 × 3 locations × 220 channels), but dims[2] is 1000: make " +
      "them agree",
  );
  assertThrows(
    () =>
      new FFNN([794, 2048, 2048], {
        label: "concat",
        local: [PAPER[0], { grid: [4, 4], patch: [2, 2], stride: 1, channels: 128 }],
      }),
    Error,
    "local[1]: 4 patches of 2 at stride 1 reach 5 rows, but there are 4 locations of local[0]: " +
      "lower local[1].grid, .patch or .stride",
  );
  assertThrows(
    () => recipe("hinton-local", { layers: [1000, 1000, 1000] }),
    Error,
    "local[0] makes 2048 units (4 × 4 locations × 128 channels), but layer 1's width in " +
      "layers is 1000: make them agree",
  );
  assertThrows(
    () => new FFNN([794, 2048], { local: [{ ...PAPER[0], channels: 0 }] }),
    Error,
    "local[0].channels must be a positive integer, got 0",
  );
  assertThrows(
    () => new Layer(10, 4, { local: { grid: [1, 2], channels: 2, patches: [[0], [10]] } }),
    Error,
    "local must give every location (patches) the same number of inputs, each below " +
      "inFeatures (10)",
  );
});

const mnistDir = sharedPath("data/mnist");
const cli = new URL("../cli/train.ts", import.meta.url).pathname;

async function train(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    env: { FF_BACKEND: "auto" },
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test({
  name:
    "the CLI trains --recipe hinton-local-quick at a tiny size; a width that does not fit is refused in flags",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    const out = await Deno.makeTempDir();
    const tiny = ["--train-size", "200", "--epochs", "1", "--seed", "3"];
    const run = await train(
      "--data",
      mnistDir!,
      "--recipe",
      "hinton-local-quick",
      ...tiny,
      "--out",
      out,
    );
    assertEquals(run.code, 0, run.err);
    const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assertEquals(metrics.config.local, RECIPES["hinton-local-quick"].local);
    assertEquals(metrics.config.trainSize, 200);
    const net = await loadNetwork(`${out}/weights.ffw`);
    assertEquals(net.layers.map((l) => l.weight.shape), [[512, 110], [495, 128], [512, 220]]);
    net.dispose();
    const bad = await train("--data", mnistDir!, "--recipe", "hinton-local", "--layers", "100");
    assertEquals(bad.code, 1);
    assertEquals(
      bad.err,
      "train: local must list at most one geometry per hidden layer (1), got 3\n",
    );
    const narrow = await train(
      "--data",
      mnistDir!,
      "--recipe",
      "hinton-local",
      "--layers",
      "100,100,100",
    );
    assertEquals(narrow.code, 1);
    assertEquals(
      narrow.err,
      "train: local[0] makes 2048 units (4 × 4 locations × 128 channels), but layer 1's width " +
        "in --layers is 100: make them agree\n",
    );
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "blas: the OpenBLAS kernels of the local product and gradient equal their formulas",
  ignore: ignoreUnless(registerBlasBackend().ok, "OpenBLAS"),
  async fn() {
    await setBackend("blas");
    try {
      const before = tf.memory().numTensors;
      for (const [i, geometry] of smallGeometries().entries()) {
        const [inF, outF] = [SMALL_DIMS[i], SMALL_DIMS[i + 1]];
        const x = rows(11, inF, 30 + i);
        const dz = rows(11, outF, 40 + i);
        const weight = rows(outF, geometry.patches[0].length, 50 + i);
        const bias = tf.tidy(() => tf.reshape(rows(1, outF, 60 + i), [outF]) as tf.Tensor1D);
        const { patches, channels } = geometry;
        for (const activation of ["relu", "linear"] as const) {
          const inputs = { x, weight, bias };
          const attrs = { patches, channels, activation };
          assert(tf.getKernel(localAffine.kernel.kernelName, "blas") !== undefined);
          const fused = localAffine.kernel(inputs, attrs);
          const plain = tf.tidy(() => localAffine.kernel.formula(inputs, attrs));
          close(fused.dataSync(), plain.dataSync(), `product, ${activation}`);
          tf.dispose([fused, plain]);
        }
        const fused = localWeightGradient.kernel({ dz, x }, { patches, channels });
        const plain = tf.tidy(() =>
          localWeightGradient.kernel.formula({ dz, x }, { patches, channels })
        );
        close(fused.dataSync(), plain.dataSync(), "gradient");
        tf.dispose([fused, plain, x, dz, weight, bias]);
      }
      assertEquals(tf.memory().numTensors, before);
    } finally {
      await setBackend("cpu");
    }
  },
});
