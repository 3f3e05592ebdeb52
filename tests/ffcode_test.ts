// Hinton's recipe against his own code: lib/core on one batch, step by step, against float64
// values computed by the PyTorch port of his Matlab code (tests/golden/ffcode_golden.json, made
// by tests/make_ffcode_golden.py), on every backend that runs here.
import { assert, assertEquals } from "@std/assert";
import {
  combineXY,
  cooldown,
  ffLossAndGradient,
  FFNN,
  hardNegativeProbabilities,
  normalizeRows,
  setBackend,
  tf,
} from "../lib/mod.ts";
import { registerBlasBackend } from "../lib/backends/blas.ts";

const golden = JSON.parse(
  await Deno.readTextFile(new URL("./golden/ffcode_golden.json", import.meta.url)),
);
const { settings } = golden;

type Nested = number | Nested[];

/** max|actual - expected| <= tolerance · max(1e-3, max|expected|). */
function assertClose(
  actual: tf.Tensor | number[],
  expected: Nested,
  tolerance: number,
  what: string,
) {
  const a = Array.isArray(actual) ? actual : Array.from(actual.dataSync());
  const e = [expected].flat(Infinity as 1) as number[];
  assertEquals(a.length, e.length, `${what}: size`);
  const scale = Math.max(1e-3, ...e.map(Math.abs));
  const worst = Math.max(...a.map((v, i) => Math.abs(v - e[i])));
  assert(
    worst <= tolerance * scale,
    `${what}: max error ${worst.toExponential(2)} > ${tolerance} × ${scale.toExponential(2)}`,
  );
}

/** The port's network: layers 24-12-10-8, Hinton's settings, its initial weights. */
function network(): FFNN {
  return new FFNN([24, ...settings.layers], {
    label: "overlay",
    labelValue: 1,
    normalize: "rms",
    goodness: "sum",
    optimizer: "sgd",
    learningRate: settings.learning_rate,
    momentum: settings.momentum,
    weightDecay: settings.weight_decay,
    peerNormalization: settings.peer,
    init: "normal",
    layers: golden.initial,
    readout: {
      fromLayer: 1,
      learningRate: settings.readout_learning_rate,
      weightDecay: settings.readout_weight_decay,
    },
  });
}

const backends = ["cpu", "wasm", ...(registerBlasBackend().ok ? ["blas"] : [])];
for (const backend of backends) {
  Deno.test(`Hinton's recipe, one batch, against his code on ${backend}`, async (t) => {
    await setBackend(backend);
    const before = tf.memory().numTensors;
    const images = tf.tensor2d(golden.images);
    const labels: number[] = golden.labels;
    const drawn: number[] = golden.hard_negatives.labels;

    await t.step("the label over the first pixels, and RMS normalisation", () => {
      tf.tidy(() => {
        const positive = combineXY(images, labels, { mode: "overlay", value: 1 });
        assertClose(positive, golden.positive, 1e-6, "positive data");
        assertClose(normalizeRows(positive, "rms"), golden.rms, 1e-5, "RMS rows");
      });
    });

    await t.step("the logistic goodness's gradient is the FF loss's, with θ = width", () => {
      const net = network();
      tf.tidy(() => {
        for (const [i, layer] of net.layers.entries()) {
          const { input, states, p } = golden.positive_layers[i];
          const x = tf.tensor2d(input);
          // A positive batch, and the same rows as negatives: both halves of the gradient.
          const z = tf.concat([
            tf.fused.matMul({ a: x, b: layer.weight, transposeB: true, bias: layer.bias }),
            tf.fused.matMul({ a: x, b: layer.weight, transposeB: true, bias: layer.bias }),
          ]) as tf.Tensor2D;
          const rows = input.length;
          const { dz } = ffLossAndGradient(z, rows, layer.options.threshold, "sum");
          // The port ascends (1 - p)·h on positive rows and -p·h on negative ones, per row.
          const ascent = [
            ...states.map((row: number[], r: number) => row.map((h) => (1 - p[r]) * h)),
            ...states.map((row: number[], r: number) => row.map((h) => -p[r] * h)),
          ];
          assertEquals(layer.options.threshold, settings.layers[i]);
          assertClose(tf.mul(dz, -rows), ascent, 1e-4, `layer ${i + 1} gradient`);
        }
      });
      net.dispose();
    });

    await t.step(
      "hard negatives' probabilities: softmax of the scores, true label ruled out",
      () => {
        tf.tidy(() => {
          const scores = tf.tensor2d(golden.softmax_logits);
          const p = hardNegativeProbabilities(scores, golden.test_labels);
          assertClose(p, golden.hard_negative_probabilities, 1e-5, "probabilities");
        });
      },
    );

    await t.step(
      "one step of every layer (SGD, momentum, weight cost, peer normalisation) and of the readout",
      () => {
        const net = network();
        tf.tidy(() => {
          // The readout learns from the neutral pass, before the layers' step, as in the port.
          let h = combineXY(images, "neutral", { mode: "overlay", value: 1 });
          const states: tf.Tensor2D[] = [];
          for (const [i, layer] of net.layers.entries()) {
            h = layer.forward(h);
            if (i >= 1) states.push(normalizeRows(h, "rms"));
          }
          net.readout!.step(states, labels);
          let hPositive = combineXY(images, labels, { mode: "overlay", value: 1 });
          let hNegative = combineXY(images, drawn, { mode: "overlay", value: 1 });
          assertClose(hNegative, golden.negative, 1e-6, "negative data");
          for (const layer of net.layers) {
            const step = layer.step(hPositive, hNegative);
            [hPositive, hNegative] = [step.hPositive, step.hNegative];
          }
        });
        net.layers.forEach((layer, i) => {
          const expected = golden.after.layers[i];
          assertClose(layer.weight, expected.weight, 1e-4, `layer ${i + 1} weight`);
          assertClose(layer.bias, expected.bias, 1e-4, `layer ${i + 1} bias`);
          const [vWeight, vBias] = layer.optimizer.slots;
          assertClose(vWeight, expected.velocity_weight, 1e-4, `layer ${i + 1} velocity`);
          assertClose(vBias, expected.velocity_bias, 1e-4, `layer ${i + 1} bias velocity`);
          assertClose(layer.meanActivity!, expected.mean_activity, 1e-5, `layer ${i + 1} activity`);
        });
        net.readout!.weights.forEach((w, i) =>
          assertClose(w, golden.after.readout[i], 1e-4, `readout from layer ${i + 2}`)
        );
        net.readout!.optimizer.slots.forEach((v, i) =>
          assertClose(v, golden.after.readout_velocity[i], 1e-4, `readout velocity ${i + 2}`)
        );
        net.dispose();
      },
    );

    await t.step("both of the port's tests: energy from layer 2 on, and softmax", () => {
      const net = network();
      tf.tidy(() => {
        net.layers.forEach((layer, i) => {
          layer.weight.assign(tf.tensor2d(golden.after.layers[i].weight));
          layer.bias.assign(tf.tensor1d(golden.after.layers[i].bias));
        });
        net.readout!.weights.forEach((w, i) => w.assign(tf.tensor2d(golden.after.readout[i])));
        const x = tf.tensor2d(golden.test_images);
        // Hinton's code scores with the images' first pixels overwritten: so do we.
        assertClose(net.goodnessPerLabel(x, { skipFirst: true }), golden.energies, 1e-4, "energy");
        assertClose(net.readoutScores(x), golden.softmax_logits, 1e-4, "softmax logits");
        const argmax = (rows: number[][]) => rows.map((row) => row.indexOf(Math.max(...row)));
        assertEquals(
          Array.from(net.predict(x, { readout: "goodness-skip-first" }).dataSync()),
          argmax(golden.energies),
        );
        assertEquals(
          Array.from(net.predict(x, { readout: "softmax" }).dataSync()),
          argmax(golden.softmax_logits),
        );
      });
      net.dispose();
    });

    tf.dispose(images);
    assertEquals(tf.memory().numTensors, before, "tensors leaked");
  });
}

Deno.test("the cooldown is Hinton's: full rate for half the epochs, then linear to 1/epochs", () => {
  // epsgain in ffnew.m: 1 while epoch <= maxepoch / 2, else (1 + 2 (maxepoch - epoch)) / maxepoch.
  assertEquals([1, 30, 31, 45, 59, 60].map((epoch) => cooldown(epoch, 60)), [
    1,
    1,
    59 / 60,
    31 / 60,
    3 / 60,
    1 / 60,
  ]);
  assertEquals([1, 2].map((epoch) => cooldown(epoch, 2)), [1, 0.5]);
});
