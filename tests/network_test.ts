import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  combineXY,
  FFNN,
  goodness,
  negativeLabels,
  seededRandom,
  setBackend,
  tf,
} from "../lib/mod.ts";

await setBackend("cpu");

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
  await net.save(path);
  const loaded = await FFNN.load(path);
  assertEquals(loaded.dims, [16, 8, 4]);
  assertEquals(loaded.layers[0].threshold, 1.5);
  const [a, b] = [net.goodnessPerLabel(x), loaded.goodnessPerLabel(x)];
  assertEquals(Array.from(a.dataSync()), Array.from(b.dataSync()));
  await Deno.writeTextFile(path, '{"format": "something else"}');
  await assertRejects(() => FFNN.load(path), Error, "not an ff-notebooks weights file");
  await Deno.writeTextFile(path, "{trunc");
  await assertRejects(() => FFNN.load(path), Error, "cannot read weights");
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
    "batch size",
  );
  x.dispose();
  net.dispose();
});

Deno.test("dims must describe at least one layer", () => {
  assertThrows(() => new FFNN([794]), Error, "dims must list");
  assertThrows(() => new FFNN([794, 0]), Error, "dims must list");
});

Deno.test("goodness per label equals attaching each label and running every layer", async (t) => {
  for (const backend of ["cpu", "wasm"]) {
    for (const label of ["concat", "overlay"] as const) {
      await t.step(`${label} on ${backend}`, async () => {
        await setBackend(backend);
        const { x } = toy(50, 12);
        const width = label === "concat" ? 22 : 12;
        const net = new FFNN([width, 9, 7], { seed: 3, label });
        const fast = net.goodnessPerLabel(x);
        const direct = tf.tidy(() =>
          tf.stack(
            Array.from({ length: 10 }, (_, k) => {
              let h = combineXY(x, new Int32Array(50).fill(k), 10, label);
              let total: tf.Tensor = tf.zeros([50]);
              for (const layer of net.layers) {
                h = layer.forward(h);
                total = tf.add(total, goodness(h));
              }
              return total;
            }),
            1,
          )
        );
        const worst = tf.tidy(() => tf.max(tf.abs(tf.sub(fast, direct))).dataSync()[0]);
        assert(worst < 1e-5, `differs by ${worst}`);
        tf.dispose([fast, direct, x]);
        net.dispose();
      });
    }
  }
  await setBackend("cpu");
});
