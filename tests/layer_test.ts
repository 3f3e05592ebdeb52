import { assert, assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { combineXY, Layer, negativeLabels, seededRandom, setBackend, tf } from "../lib/mod.ts";
import { ignoreUnless, webgpuMissing } from "./shared.ts";

await setBackend("cpu");

/** A small separable problem: 200 points, 4 features, 10 classes. */
function toyData(seed = 1) {
  const random = seededRandom(seed);
  const rows = 200;
  const y = Int32Array.from({ length: rows }, (_, i) => i % 10);
  const x = tf.tensor2d(Array.from({ length: rows * 4 }, random), [rows, 4]);
  const xPositive = combineXY(x, y);
  const xNegative = combineXY(x, negativeLabels(y, { mode: "wrong", seed }));
  x.dispose();
  return { xPositive, xNegative };
}

Deno.test("default initialisation is torch.nn.Linear's U(-1/sqrt(in), 1/sqrt(in)) and seeded", () => {
  const a = new Layer(400, 50, { seed: 3 });
  const b = new Layer(400, 50, { seed: 3 });
  const w = a.weight.dataSync();
  assert(w.every((v) => Math.abs(v) <= 1 / 20));
  assert(Math.max(...w) > 0.045 && Math.min(...w) < -0.045, "fills the range");
  // The bias too: 1/sqrt(in), as torch draws it, not 1/sqrt(out) = 0.14.
  const bias = a.bias.dataSync();
  assert(bias.every((v) => Math.abs(v) <= 1 / 20), "bias within 1/sqrt(in)");
  assert(Math.max(...bias.map(Math.abs)) > 0.04, "bias fills its range");
  assertEquals(Array.from(w), Array.from(b.weight.dataSync()));
  assertEquals(Array.from(a.bias.dataSync()), Array.from(b.bias.dataSync()));
  a.dispose();
  b.dispose();
});

Deno.test("bad options and inputs get one-line errors", () => {
  assertThrows(() => new Layer(0, 3), Error, "inFeatures");
  assertThrows(
    () => new Layer(2, 3, { weight: [[1, 2]] }),
    Error,
    "initial weight has shape [1,2]",
  );
  assertThrows(() => new Layer(2, 3, { threshold: NaN }), Error, "threshold");
  const layer = new Layer(3, 2);
  const x = tf.ones([4, 5]) as tf.Tensor2D;
  assertThrows(() => layer.forward(x), Error, "takes rows of 3 values (inFeatures)");
  tf.dispose([x]);
  layer.dispose();
});

Deno.test("training separates positive from negative goodness and lowers the loss", async () => {
  const { xPositive, xNegative } = toyData();
  const layer = new Layer(14, 20, { epochs: 60, seed: 2 });
  const [hPositive, hNegative] = await layer.train(xPositive, xNegative);
  assertEquals(layer.losses.length, 60);
  assert(
    layer.losses[59] < layer.losses[0] * 0.8,
    `loss ${layer.losses[0]} -> ${layer.losses[59]}`,
  );
  const gap = tf.tidy(() =>
    tf.sub(tf.mean(tf.mean(tf.square(hPositive), 1)), tf.mean(tf.mean(tf.square(hNegative), 1)))
      .dataSync()[0]
  );
  assert(gap > 0, `positive goodness should exceed negative, gap ${gap}`);
  tf.dispose([hPositive, hNegative, xPositive, xNegative]);
  layer.dispose();
});

Deno.test("a layer whose units all went silent says so, once, with the setting to change", async () => {
  const { xPositive, xNegative } = toyData(7);
  // A bias far below zero: no unit ever fires, so the layer cannot learn.
  const layer = new Layer(14, 8, { epochs: 40, seed: 1, bias: Array(8).fill(-100) });
  const warnings: string[] = [];
  tf.dispose(
    await layer.train(xPositive, xNegative, {
      onEpoch: ({ warning }) => void (warning && warnings.push(warning)),
    }),
  );
  assertEquals(warnings, [
    "layer 1: no unit is active on any training input (epoch 20), so it has stopped learning: " +
    "lower learningRate (now 0.03)",
  ]);
  const lively = new Layer(14, 8, { epochs: 40, seed: 1 });
  const none: string[] = [];
  tf.dispose(
    await lively.train(xPositive, xNegative, {
      onEpoch: ({ warning }) => void (warning && none.push(warning)),
    }),
  );
  assertEquals(none, []);
  tf.dispose([xPositive, xNegative]);
  layer.dispose();
  lively.dispose();
});

Deno.test("the fused loss kernel and plain tfjs ops agree", async () => {
  const { xPositive, xNegative } = toyData(5);
  const layer = new Layer(14, 20, { seed: 4 });
  const fused = layer.gradients(xPositive, xNegative);
  const plain = layer.loss(xPositive, xNegative);
  assertAlmostEquals(fused.loss.dataSync()[0], plain.dataSync()[0], 1e-6);
  await setBackend("wasm"); // no fused kernel there: the same formula as tfjs ops
  const composed = layer.gradients(xPositive, xNegative);
  await setBackend("cpu");
  const worst = tf.tidy(() => tf.max(tf.abs(tf.sub(fused.weight, composed.weight))).dataSync()[0]);
  assert(worst < 1e-7, `weight gradients differ by ${worst}`);
  tf.dispose([fused.loss, fused.weight, fused.bias, plain]);
  tf.dispose([composed.loss, composed.weight, composed.bias, xPositive, xNegative]);
  layer.dispose();
});

const webgpu = await webgpuMissing();
for (const backend of ["cpu", "webgpu"]) {
  Deno.test({
    name: `the live tensor count does not grow with epochs on ${backend}`,
    ignore: backend === "webgpu" && ignoreUnless(webgpu === undefined, `webgpu (${webgpu})`),
    async fn() {
      await setBackend(backend);
      const { xPositive, xNegative } = toyData(6);
      const layer = new Layer(14, 16, { epochs: 10, seed: 1 });
      const counts: number[] = [];
      const outputs = await layer.train(xPositive, xNegative, {
        onEpoch: () => {
          counts.push(tf.memory().numTensors);
        },
      });
      assertEquals(counts.length, 10);
      assertEquals(counts[9], counts[0], `tensors per epoch: ${counts.join(", ")}`);
      tf.dispose([...outputs, xPositive, xNegative]);
      layer.dispose();
      await setBackend("cpu");
    },
  });
}

Deno.test("NaN in the data or a loss that turns NaN stops training with a clear error", async () => {
  const layer = new Layer(2, 3, { epochs: 2 });
  const bad = tf.tensor2d([[1, NaN]]);
  const good = tf.tensor2d([[1, 2]]);
  await assertRejects(() => layer.train(bad, good), Error, "NaN");
  const wild = new Layer(2, 3, { epochs: 5, learningRate: 1e30 });
  await assertRejects(
    () => wild.train(good, tf.tensor2d([[2, 1]])),
    Error,
    "at layer 1 epoch 2: lower learningRate (now 1e+30)",
  );
  tf.dispose([bad, good]);
  layer.dispose();
  wild.dispose();
});
