// What the library refuses (issue #22): NaN in the data, unknown option names, options out of
// range, labels out of range, and divergence blamed on the setting most likely at fault.
import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  combineXY,
  FFNN,
  type FFNNOptions,
  Layer,
  negativeLabels,
  seededRandom,
  setBackend,
  SoftmaxReadout,
  tf,
  TrainingDiverged,
} from "../lib/mod.ts";

await setBackend("cpu");

/** 300 images of 30 pixels, 10 classes. */
function toyImages(nan?: number) {
  const random = seededRandom(3);
  const values = Array.from({ length: 300 * 30 }, random);
  if (nan !== undefined) values[nan] = NaN;
  const x = tf.tensor2d(values, [300, 30]);
  const y = Int32Array.from({ length: 300 }, (_, i) => i % 10);
  return { x, y };
}

/** Hinton's kind of network on the toy images, with `options` changed. */
function hintonLike(options: FFNNOptions = {}): FFNN {
  return new FFNN([30, 20, 20], {
    optimizer: "sgd",
    learningRate: 0.01,
    label: "overlay",
    labelValue: 1,
    normalize: "rms",
    goodness: "sum",
    peerNormalization: 0.03,
    readout: { fromLayer: 0 },
    ...options,
  });
}

/** Runs `body` and asserts that it leaves no tensor behind, whether it throws or not. */
async function noLeak(body: () => unknown): Promise<void> {
  const before = tf.memory().numTensors;
  try {
    await body();
  } catch {
    // The caller asserts the error; here only the tensors count.
  }
  assertEquals(tf.memory().numTensors, before, "tensors left behind");
}

Deno.test("NaN or Infinity in what predict, step, train and the readout are given: one line naming the argument", async () => {
  const net = hintonLike();
  for (const bad of [NaN, Infinity, -Infinity]) {
    const x = tf.tensor2d([[0.5, 0.1, ...Array(28).fill(0.2)], [bad, ...Array(29).fill(0.3)]]);
    // Today's bug: label 0 for every row, and no word.
    assertThrows(() => net.predict(x), Error, "x contains NaN or Infinity");
    assertThrows(() => net.predictEach(x), Error, "x contains NaN or Infinity");
    assertThrows(() => net.readoutScores(x), Error, "x contains NaN or Infinity");
    assertThrows(() => net.goodnessPerLabel(x), Error, "x contains NaN or Infinity");
    await noLeak(() => net.predict(x));
    x.dispose();
  }
  const layer = new Layer(3, 4);
  const good = tf.tensor2d([[1, 2, 3]]);
  const bad = tf.tensor2d([[1, NaN, 3]]);
  assertThrows(() => layer.step(good, bad), Error, "xNegative contains NaN or Infinity");
  assertThrows(() => layer.step(bad, good), Error, "xPositive contains NaN or Infinity");
  await noLeak(() => layer.step(bad, good));
  await assertRejects(() => layer.train(bad, good), Error, "xPositive contains NaN or Infinity");
  const { x, y } = toyImages(31);
  await assertRejects(
    () => net.trainMiniBatch(x, y, { batchSize: 50, epochs: 1 }),
    Error,
    "x contains NaN or Infinity at index 31",
  );
  const full = new FFNN([40, 8]);
  const xPositive = combineXY(x, y);
  await assertRejects(
    () => full.train(xPositive, xPositive),
    Error,
    "xPositive contains NaN or Infinity",
  );
  tf.dispose([good, bad, x, xPositive]);
  for (const disposable of [net, layer, full]) disposable.dispose();
});

Deno.test("a step on finite data is the same with or without the check", () => {
  const [a, b] = [new Layer(3, 4, { seed: 2 }), new Layer(3, 4, { seed: 2 })];
  const xPositive = tf.tensor2d([[1, 2, 3], [0, 1, 0]]);
  const xNegative = tf.tensor2d([[3, 2, 1], [1, 0, 0]]);
  const checked = a.step(xPositive, xNegative);
  const trusted = b.step(xPositive, xNegative, { inputsChecked: true });
  assertEquals(checked.loss.dataSync(), trusted.loss.dataSync());
  assertEquals(a.weight.dataSync(), b.weight.dataSync());
  tf.dispose([xPositive, xNegative, checked, trusted] as tf.TensorContainer);
  a.dispose();
  b.dispose();
});

Deno.test("an unknown option name is refused with the nearest known one", async () => {
  assertThrows(
    () => new FFNN([30, 8], { learningrate: 0.1 } as FFNNOptions),
    Error,
    'unknown option "learningrate": did you mean "learningRate"?',
  );
  assertThrows(
    () => new FFNN([30, 8], { layer: [] } as FFNNOptions),
    Error,
    'did you mean "layers"?',
  );
  assertThrows(
    () => new Layer(3, 4, { momentun: 0.5 } as never),
    Error,
    'unknown layer option "momentun": did you mean "momentum"?',
  );
  assertThrows(
    () => new FFNN([30, 8, 8], { readout: { learningrate: 0.1 } as never }),
    Error,
    'unknown readout option "learningrate": did you mean "learningRate"?',
  );
  const { x, y } = toyImages();
  const net = new FFNN([40, 8]);
  await assertRejects(
    () => net.trainMiniBatch(x, y, { batchSize: 50, epochs: 1, shifts: 2 } as never),
    Error,
    'unknown trainMiniBatch option "shifts": did you mean "shift"?',
  );
  const xPositive = combineXY(x, y);
  await assertRejects(
    () => net.train(xPositive, xPositive, { onepoch: () => {} } as never),
    Error,
    'unknown train option "onepoch": did you mean "onEpoch"?',
  );
  tf.dispose([x, xPositive]);
  net.dispose();
});

Deno.test("options out of range are refused, naming the option", () => {
  const cases: [FFNNOptions, string][] = [
    [{ momentum: 1 }, "momentum must be a number from 0 and below 1, got 1"],
    [{ momentum: 1.5 }, "momentum must be a number from 0 and below 1, got 1.5"],
    [{ momentum: -0.1 }, "momentum must be"],
    [{ learningRate: -1 }, "learningRate must be a number from 0, got -1"],
    [{ learningRate: NaN }, "learningRate must be a number from 0, got NaN"],
    [{ learningRate: "abc" as never }, 'learningRate must be a number from 0, got "abc"'],
    [{ weightDecay: -0.001 }, "weightDecay must be"],
    [{ peerNormalization: Infinity }, "peerNormalization must be"],
    [{ threshold: 1e39 }, "threshold must be"], // Infinity once in a float32 tensor
    [{ readout: { learningRate: NaN } }, "readout.learningRate must be a number from 0, got NaN"],
    [
      { readout: { learningRate: "abc" as never } },
      'readout.learningRate must be a number from 0, got "abc"',
    ],
    [{ readout: { momentum: 1.5 } }, "readout.momentum must be"],
    [{ readout: { weightDecay: -1 } }, "readout.weightDecay must be"],
    [{ labelValue: NaN }, "labelValue must be a finite number"],
  ];
  for (const [options, message] of cases) {
    assertThrows(() => new FFNN([30, 8, 8], options), Error, message);
  }
  assertThrows(() => new SoftmaxReadout([4], 3, { momentum: 2 }), Error, "momentum must be");
});

Deno.test("a label out of range is refused, not taken for another", async () => {
  const readout = new SoftmaxReadout([3], 10);
  const states = [tf.tensor2d([[1, 0, 0], [0, 1, 0]])];
  assertThrows(() => readout.step(states, [3, 12]), Error, "label 12 at index 1 is outside 0..9");
  const { x, y } = toyImages();
  y[7] = 12;
  const net = hintonLike();
  await assertRejects(
    () => net.trainMiniBatch(x, y, { batchSize: 50, epochs: 1 }),
    Error,
    "label 12 at index 7 is outside 0..9",
  );
  tf.dispose([x, ...states]);
  readout.dispose();
  net.dispose();
});

Deno.test("a bad readout.fromLayer, or a bad layer, leaves no tensor behind", async () => {
  await noLeak(() => new FFNN([30, 8, 8], { readout: { fromLayer: 2 } }));
  assertThrows(
    () => new FFNN([30, 8, 8], { readout: { fromLayer: 2 } }),
    Error,
    "readout.fromLayer must be a layer index from 0 to 1, got 2",
  );
  // The second layer's initial weights do not fit: the first layer was made, and is freed.
  const layers = [{ weight: [[0]], bias: [0] }, { weight: [[0]], bias: [0] }];
  layers[0] = {
    weight: Array.from({ length: 8 }, () => Array(30).fill(0)),
    bias: Array(8).fill(0),
  };
  await noLeak(() => new FFNN([30, 8, 8], { layers }));
  assertThrows(() => new FFNN([30, 8, 8], { layers }), Error, "initial weight has shape [1,1]");
});

Deno.test("divergence names the setting most likely at fault, from what went non-finite", async () => {
  const { x, y } = toyImages();
  const cases: [FFNNOptions, string][] = [
    [{ learningRate: 1e30 }, "at layer 1 epoch 1: lower learningRate (now 1e+30)"],
    [{ peerNormalization: 1e30 }, "at layer 1 epoch 1: lower peerNormalization (now 1e+30)"],
    [{ peerNormalization: 1e6 }, "lower peerNormalization (now 1000000)"],
    [{ weightDecay: 1e4 }, "lower weightDecay (now 10000)"],
    [
      { readout: { fromLayer: 0, learningRate: 1e30 } },
      "in the readout at epoch 1: lower readout.learningRate (now 1e+30)",
    ],
  ];
  for (const [options, message] of cases) {
    for (const negatives of ["hard", "permute"] as const) {
      const net = hintonLike(options);
      await assertRejects(
        () => net.trainMiniBatch(x, y, { batchSize: 50, epochs: 5, negatives }),
        TrainingDiverged,
        message,
      );
      net.dispose();
    }
  }
  // The post's full-batch training: a layer's own loss.
  const layer = new Layer(2, 3, {
    epochs: 40,
    optimizer: "sgd",
    weightDecay: 1e3,
    learningRate: 1,
  });
  const [a, b] = [tf.tensor2d([[1, 2]]), tf.tensor2d([[2, 1]])];
  await assertRejects(() => layer.train(a, b), TrainingDiverged, "lower weightDecay (now 1000)");
  tf.dispose([x, a, b]);
  layer.dispose();
});

Deno.test("a network given its pixel scaling predicts on images as loaded exactly as on images as trained", () => {
  // Every byte, standard (MNIST's statistics) and unit scaling, in both directions.
  const bytes = Array.from({ length: 300 * 30 }, (_, i) => (i * 37) % 256);
  const stats = { standard: { mean: 0.1307, std: 0.3081 }, unit: { mean: 0, std: 1 } };
  const f32 = Math.fround;
  const scaled = (p: number, { mean, std }: { mean: number; std: number }) =>
    f32(f32(f32(p / 255) - f32(mean)) / f32(std));
  for (const [given, trained] of [["standard", "unit"], ["unit", "standard"]] as const) {
    const options: FFNNOptions = {
      numClasses: 10,
      label: "overlay",
      seed: 4,
      readout: { fromLayer: 0 },
    };
    const plain = new FFNN([30, 12, 12], options);
    const carrying = new FFNN([30, 12, 12], {
      ...options,
      pixels: { given: stats[given], trained: stats[trained] },
    });
    const asTrained = tf.tensor2d(bytes.map((p) => scaled(p, stats[trained])), [300, 30]);
    const asLoaded = tf.tensor2d(bytes.map((p) => scaled(p, stats[given])), [300, 30]);
    const [want, got] = [plain.goodnessPerLabel(asTrained), carrying.goodnessPerLabel(asLoaded)];
    assertEquals(got.dataSync(), want.dataSync(), `${given} to ${trained}`);
    tf.dispose([asTrained, asLoaded, want, got]);
    plain.dispose();
    carrying.dispose();
  }
});

Deno.test("negative labels are still checked where they are drawn", () => {
  assertThrows(() => negativeLabels([1, 12]), Error, "label 12 at index 1 is outside 0..9");
});
