import { assert, assertEquals, assertLess, assertRejects, assertThrows } from "@std/assert";
import {
  combineXY,
  FFNN,
  goodness,
  loadNetwork,
  negativeLabels,
  normalizeRows,
  saveNetwork,
  seededRandom,
  setBackend,
  tf,
} from "../lib/mod.ts";
import { ignoreUnless, webgpuMissing } from "./shared.ts";

await setBackend("cpu");
const webgpu = await webgpuMissing();

function toy(rows = 120, features = 6) {
  const random = seededRandom(3);
  const y = Int32Array.from({ length: rows }, (_, i) => i % 10);
  const x = tf.tensor2d(Array.from({ length: rows * features }, random), [rows, features]);
  return { x, y };
}

Deno.test("predict leaves no tensor behind and returns one label per row", () => {
  const { x } = toy();
  const net = new FFNN([16, 8, 8], { seed: 1 });
  const before = tf.memory().numTensors;
  const predicted = net.predict(x);
  assertEquals(predicted.shape, [120]);
  assertEquals(predicted.dtype, "int32");
  predicted.dispose();
  assertEquals(tf.memory().numTensors, before);
  const goodness = net.goodnessPerLabel(x);
  assertEquals(goodness.shape, [120, 10]);
  tf.dispose([goodness, x]);
  net.dispose();
});

Deno.test("the same seed trains to the same weights", async () => {
  const { x, y } = toy();
  const weights = [];
  for (let run = 0; run < 2; run++) {
    const net = new FFNN([16, 8], { seed: 7, epochs: 5 });
    const xPositive = combineXY(x, y);
    const xNegative = combineXY(x, negativeLabels(y, { seed: 2 }));
    await net.train(xPositive, xNegative);
    weights.push(Array.from(net.layers[0].weight.dataSync()));
    tf.dispose([xPositive, xNegative]);
    net.dispose();
  }
  assertEquals(weights[0], weights[1]);
  x.dispose();
});

Deno.test("save and load round-trip the weights; a damaged file gets a clear error", async () => {
  const { x } = toy();
  const net = new FFNN([16, 8, 4], { seed: 2, threshold: 1.5 });
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await saveNetwork(net, path);
  const loaded = await loadNetwork(path);
  assertEquals(loaded.dims, [16, 8, 4]);
  assertEquals(loaded.layers[0].options.threshold, 1.5);
  const [a, b] = [net.goodnessPerLabel(x), loaded.goodnessPerLabel(x)];
  assertEquals(Array.from(a.dataSync()), Array.from(b.dataSync()));
  await Deno.writeTextFile(path, '{"format": "something else"}');
  await assertRejects(() => loadNetwork(path), Error, "not an ff-notebooks weights file");
  await Deno.writeTextFile(path, "{trunc");
  await assertRejects(() => loadNetwork(path), Error, "cannot read weights");
  tf.dispose([a, b, x]);
  net.dispose();
  loaded.dispose();
  await Deno.remove(path);
});

Deno.test("mini-batch training updates every layer on every batch and records epoch losses", async () => {
  const { x, y } = toy(200);
  const net = new FFNN([16, 12, 12], { seed: 4 });
  const before = Array.from(net.layers[1].weight.dataSync());
  const counts: number[] = [];
  await net.trainMiniBatch(x, y, {
    batchSize: 50,
    epochs: 3,
    seed: 1,
    onEpoch: ({ layer, layers, epoch }) => {
      assertEquals([layer, layers, epoch], [0, 1, counts.length + 1], "one report per epoch");
      counts.push(tf.memory().numTensors);
    },
  });
  assertEquals(counts.length, 3);
  assertEquals(net.losses.map((l) => l.length), [3, 3]);
  assert(Array.from(net.layers[1].weight.dataSync()).some((v, i) => v !== before[i]));
  assertEquals(counts.at(-1), counts[0], `tensors per epoch: ${counts.join(", ")}`);
  await assertRejects(
    () => net.trainMiniBatch(x, y, { batchSize: 0, epochs: 1 }),
    Error,
    "batchSize must be a positive integer",
  );
  x.dispose();
  net.dispose();
});

Deno.test("dims must describe at least one layer", () => {
  assertThrows(() => new FFNN([794]), Error, "dims must list");
  assertThrows(() => new FFNN([794, 0]), Error, "dims must list");
});

Deno.test("goodness per label equals writing in each label and running every layer", async (t) => {
  const settings = [
    { label: "concat" },
    { label: "overlay" },
    { label: "overlay", labelValue: 1, normalize: "rms", goodness: "sum", init: "normal" },
  ] as const;
  for (const backend of ["cpu", "wasm"]) {
    for (const options of settings) {
      await t.step(`${JSON.stringify(options)} on ${backend}`, async () => {
        await setBackend(backend);
        const { x } = toy(50, 12);
        const width = options.label === "concat" ? 22 : 12;
        const net = new FFNN([width, 9, 7], { seed: 3, ...options });
        for (const skipFirst of [false, true]) {
          const fast = net.goodnessPerLabel(x, { skipFirst });
          const direct = tf.tidy(() =>
            tf.stack(
              Array.from({ length: 10 }, (_, k) => {
                let h = combineXY(x, new Int32Array(50).fill(k), {
                  mode: options.label,
                  value: "labelValue" in options ? options.labelValue : "max",
                });
                let total: tf.Tensor = tf.zeros([50]);
                for (const [i, layer] of net.layers.entries()) {
                  h = layer.forward(h);
                  if (i > 0 || !skipFirst) {
                    total = tf.add(total, goodness(h, layer.options.goodness));
                  }
                }
                return total;
              }),
              1,
            )
          );
          const scale = tf.tidy(() => tf.max(tf.abs(direct)).dataSync()[0]);
          const worst = tf.tidy(() => tf.max(tf.abs(tf.sub(fast, direct))).dataSync()[0]);
          assert(worst < 1e-5 * Math.max(1, scale), `skipFirst ${skipFirst}: differs by ${worst}`);
          tf.dispose([fast, direct]);
        }
        x.dispose();
        net.dispose();
      });
    }
  }
  await setBackend("cpu");
});

Deno.test("a network built for other images says which option is probably wrong", () => {
  const x = tf.ones([4, 8]) as tf.Tensor2D;
  const net = new FFNN([11, 5, 4], { seed: 1 });
  assertThrows(
    () => net.goodnessPerLabel(x),
    Error,
    "x has 8 features per row, but this network takes images of 1 (dims[0] = 11 minus numClasses = 10",
  );
  assertThrows(() => net.predict(x), Error, "check numClasses and dims[0]");
  assertThrows(() => new FFNN([8, 5], { numClasses: 10 }), Error, "must exceed numClasses");
  x.dispose();
  net.dispose();
});

// Hinton's recipe on webgpu too: its SGD kernel, the readout, hard negatives, peer normalisation.
for (const backend of ["cpu", "webgpu"]) {
  Deno.test({
    name: `mini-batch training repeats exactly for a seed, with every ingredient on, on ${backend}`,
    ignore: backend === "webgpu" && ignoreUnless(webgpu === undefined, `webgpu (${webgpu})`),
    async fn() {
      await setBackend(backend);
      const { x, y } = toy(60, 16);
      const options = {
        seed: 5,
        label: "overlay",
        labelValue: 1,
        normalize: "rms",
        goodness: "sum",
        optimizer: "sgd",
        learningRate: 0.01,
        weightDecay: 0.001,
        peerNormalization: 0.03,
        init: "normal",
        readout: {},
      } as const;
      const runs = [];
      for (let run = 0; run < 2; run++) {
        const net = new FFNN([16, 12, 12], options);
        const before = tf.memory().numTensors;
        const epochs: number[] = [];
        await net.trainMiniBatch(x, y, {
          batchSize: 20,
          epochs: 3,
          negatives: "hard",
          cooldown: true,
          shift: 1,
          dropout: 0.2,
          seed: 9,
          onEpoch: () => void epochs.push(tf.memory().numTensors),
        });
        assertEquals(epochs, [before, before, before], "no tensor left behind per epoch");
        const values = [];
        for (const v of net.variables) values.push(Array.from(await v.data()));
        runs.push(values);
        net.dispose();
      }
      assertEquals(runs[0], runs[1]);
      x.dispose();
      await setBackend("cpu");
    },
  });
}

Deno.test("hard negatives need the readout; every readout predicts one label per row", async () => {
  const { x, y } = toy(40, 6);
  const plain = new FFNN([16, 8, 8], { seed: 1 });
  await assertRejects(
    () => plain.trainMiniBatch(x, y, { batchSize: 10, epochs: 1, negatives: "hard" }),
    Error,
    "build the network with a readout",
  );
  assertEquals(plain.readouts, ["goodness", "goodness-skip-first"]);
  assertThrows(() => plain.predict(x, { readout: "softmax" }), Error, "has no softmax readout");
  const withReadout = new FFNN([16, 8, 8], { seed: 1, readout: {} });
  await withReadout.trainMiniBatch(x, y, { batchSize: 10, epochs: 2, negatives: "hard" });
  for (const readout of withReadout.readouts) {
    const predicted = withReadout.predict(x, { readout });
    assertEquals([predicted.shape, predicted.dtype], [[40], "int32"], readout);
    predicted.dispose();
  }
  tf.dispose([x]);
  plain.dispose();
  withReadout.dispose();
});

Deno.test({
  name: "mini-batch training reads labels held in a tensor on the GPU (asynchronously)",
  ignore: ignoreUnless(webgpu === undefined, `webgpu (${webgpu})`),
  async fn() {
    await setBackend("webgpu");
    const { x } = toy(40, 6);
    // Computed on the GPU, so that no copy of the values stays on the CPU.
    const y = tf.tidy(() => tf.cast(tf.mod(tf.range(0, 40), 10), "int32")) as tf.Tensor1D;
    const net = new FFNN([16, 8], { seed: 1 });
    await net.trainMiniBatch(x, y, { batchSize: 10, epochs: 1 });
    assertEquals(net.losses[0].length, 1);
    tf.dispose([x, y]);
    net.dispose();
    await setBackend("cpu");
  },
});

Deno.test("states: every layer's normalised activity on the neutral pass, what the readout reads", async () => {
  const { x, y } = toy(40, 6);
  const net = new FFNN([16, 8, 8], { seed: 1, readout: { fromLayer: 1 } });
  await net.trainMiniBatch(x, y, { batchSize: 10, epochs: 2, negatives: "hard" });
  const before = tf.memory().numTensors;
  const states = net.states(x);
  assertEquals(tf.memory().numTensors, before + 2, "one tensor per layer, nothing else left");
  assertEquals(states.map((s) => s.shape), [[40, 8], [40, 8]]);
  // By hand: the neutral label written in, the layers in turn, each output normalised.
  const [byHand, scores, logits] = tf.tidy(() => {
    const h1 = net.layers[0].forward(combineXY(x, "neutral"));
    const h2 = net.layers[1].forward(h1);
    const normalized = [h1, h2].map((h, i) => normalizeRows(h, net.layers[i].options.normalize));
    return [
      tf.stack(normalized),
      net.readoutScores(x),
      net.readout!.logits(states.slice(net.readoutFrom)),
    ];
  });
  const gap = (a: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  assertLess(tf.tidy(() => gap(tf.stack(states), byHand)), 1e-6);
  assert(tf.tidy(() => tf.max(tf.abs(scores)).dataSync()[0]) > 0, "the readout has learned");
  assertLess(gap(logits, scores), 1e-6);
  tf.dispose([...states, byHand, scores, logits, x]);
  net.dispose();
});
