import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { RecurrentFF, type RecurrentOptions, setBackend, tf } from "../lib/mod.ts";
import { loadMnistOrSubset, pick } from "../lib/data/mod.ts";
import { loadNetwork } from "../lib/weights.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");

await setBackend("cpu");

const DAMPING = 0.3;

function toy(rows = 12, features = 6, classes = 4) {
  let state = 7;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const x = tf.tensor2d(Array.from({ length: rows * features }, random), [rows, features]);
  const y = Int32Array.from({ length: rows }, (_, i) => i % classes);
  return { x, y };
}

function net(options: RecurrentOptions = {}, dims = [6, 5, 4, 3]) {
  return new RecurrentFF(dims, {
    numClasses: 4,
    normalize: "rms",
    goodness: "sum",
    init: "normal",
    optimizer: "sgd",
    learningRate: 0.01,
    seed: 3,
    ...options,
  });
}

// ---- An independent reference: plain loops over rows of numbers. ----

type Rows = number[][];

function rms(row: number[]): number[] {
  const scale = Math.sqrt(row.reduce((a, v) => a + v * v, 0) / row.length) + Math.exp(-100);
  return row.map((v) => v / scale);
}

/** relu(W·input + b) for every row, W [out][in]. */
function relu(weight: Rows, bias: number[], input: Rows): Rows {
  return input.map((row) =>
    weight.map((w, j) => Math.max(0, w.reduce((a, wk, k) => a + wk * row[k], bias[j])))
  );
}

function weightsOf(network: RecurrentFF): { weight: Rows; bias: number[] }[] {
  return network.layers.map((layer) => ({
    weight: layer.weight.arraySync(),
    bias: layer.bias.arraySync(),
  }));
}

function oneHot(labels: ArrayLike<number>, classes: number): Rows {
  return Array.from(labels, (k) => Array.from({ length: classes }, (_, j) => j === k ? 1 : 0));
}

/** The bottom-up pass: each layer from the normalised layer below, zeros from above. */
function bottomUp(weights: { weight: Rows; bias: number[] }[], x: Rows, widths: number[]): Rows[] {
  let below = x;
  return weights.map(({ weight, bias }, i) => {
    const input = below.map((row) => [...rms(row), ...new Array(widths[i + 2]).fill(0)]);
    const h = relu(weight, bias, input);
    below = h;
    return h;
  });
}

/** One synchronous damped step: every layer's computed activity and its new state. */
function plainStep(
  weights: { weight: Rows; bias: number[] }[],
  x: Rows,
  top: Rows,
  states: Rows[],
): { computed: Rows[]; next: Rows[] } {
  const layersOf = [x, ...states, top];
  const computed = weights.map(({ weight, bias }, i) => {
    const input = x.map((_, r) => [...rms(layersOf[i][r]), ...rms(layersOf[i + 2][r])]);
    return relu(weight, bias, input);
  });
  const next = computed.map((c, i) =>
    c.map((row, r) => row.map((v, j) => DAMPING * states[i][r][j] + (1 - DAMPING) * v))
  );
  return { computed, next };
}

function assertClose(actual: Rows, expected: Rows, tolerance: number, what: string) {
  assertEquals(actual.length, expected.length, what);
  actual.forEach((row, r) =>
    row.forEach((v, j) => assertAlmostEquals(v, expected[r][j], tolerance, `${what} [${r}][${j}]`))
  );
}

Deno.test("one damped synchronous step equals a plain loop over the layers", () => {
  const { x, y } = toy();
  const network = net();
  const widths = [...network.dims, network.numClasses];
  const weights = weightsOf(network);
  const xs = x.arraySync();
  const states = network.settle(x, y, 2);
  const expected0 = bottomUp(weights, xs, widths);
  states[0].forEach((s, i) => assertClose(s.arraySync(), expected0[i], 1e-5, `step 0 layer ${i}`));
  // From the network's own states at step 0, one step; then the next from the plain ones.
  const top = oneHot(y, 4);
  const one = plainStep(weights, xs, top, states[0].map((s) => s.arraySync()));
  states[1].forEach((s, i) => assertClose(s.arraySync(), one.next[i], 1e-5, `step 1 layer ${i}`));
  const two = plainStep(weights, xs, top, one.next);
  states[2].forEach((s, i) => assertClose(s.arraySync(), two.next[i], 1e-4, `step 2 layer ${i}`));
  // Damping matters: the new state is not the computed activity alone.
  assert(
    one.next[0].some((row, r) => row.some((v, j) => Math.abs(v - one.computed[0][r][j]) > 1e-3)),
  );
  tf.dispose([x, ...states.flat()]);
  network.dispose();
});

Deno.test("the test score is each label's goodness, summed over layers, averaged over steps 3 to 5", () => {
  const { x } = toy();
  const network = net();
  const widths = [...network.dims, network.numClasses];
  const weights = weightsOf(network);
  const xs = x.arraySync();
  const start = bottomUp(weights, xs, widths);
  const sumSquares = (row: number[]) => row.reduce((a, v) => a + v * v, 0);
  const expected = { all: xs.map(() => [] as number[]), skipFirst: xs.map(() => [] as number[]) };
  for (let label = 0; label < 4; label++) {
    const top = oneHot(xs.map(() => label), 4);
    let states = start;
    const all = xs.map(() => 0);
    const skipped = xs.map(() => 0);
    for (let t = 1; t <= 5; t++) {
      const { computed, next } = plainStep(weights, xs, top, states);
      if (t >= 3) {
        computed.forEach((h, i) =>
          h.forEach((row, r) => {
            all[r] += sumSquares(row) / 3;
            if (i > 0) skipped[r] += sumSquares(row) / 3;
          })
        );
      }
      states = next;
    }
    all.forEach((g, r) => expected.all[r].push(g));
    skipped.forEach((g, r) => expected.skipFirst[r].push(g));
  }
  const scores = network.goodnessPerLabel(x);
  const skipped = network.goodnessPerLabel(x, { skipFirst: true });
  assertClose(scores.arraySync(), expected.all, 1e-3, "score");
  assertClose(skipped.arraySync(), expected.skipFirst, 1e-3, "score without the first layer");
  const predicted = network.predictEach(x, ["goodness", "goodness-skip-first"]);
  const argMax = (rows: Rows) => rows.map((row) => row.indexOf(Math.max(...row)));
  assertEquals(Array.from(predicted.goodness!.dataSync()), argMax(expected.all));
  assertEquals(
    Array.from(predicted["goodness-skip-first"]!.dataSync()),
    argMax(expected.skipFirst),
  );
  tf.dispose([x, scores, skipped, ...Object.values(predicted)]);
  network.dispose();
});

/** Every layer's input at steps 1 to `iterations`: [step - 1][layer], rows of numbers. */
function plainInputs(
  weights: { weight: Rows; bias: number[] }[],
  x: Rows,
  top: Rows,
  widths: number[],
  iterations: number,
): Rows[][] {
  let states = bottomUp(weights, x, widths);
  const inputs: Rows[][] = [];
  for (let t = 1; t <= iterations; t++) {
    const layersOf = [x, ...states, top];
    inputs.push(
      weights.map((_, i) => x.map((_, r) => [...rms(layersOf[i][r]), ...rms(layersOf[i + 2][r])])),
    );
    states = plainStep(weights, x, top, states).next;
  }
  return inputs;
}

/** The FF loss (sum-of-squares goodness) of one layer on positive and negative inputs. */
function plainLoss(
  { weight, bias }: { weight: Rows; bias: number[] },
  positive: Rows,
  negative: Rows,
  threshold: number,
): number {
  const g = (input: Rows) =>
    relu(weight, bias, input).map((row) => row.reduce((a, v) => a + v * v, 0));
  const u = [...g(positive).map((v) => threshold - v), ...g(negative).map((v) => v - threshold)];
  const softplus = (v: number) => v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
  return u.reduce((a, v) => a + softplus(v), 0) / u.length;
}

Deno.test("each layer's gradient is its own FF loss's, with its input at every step held constant", () => {
  const { x, y } = toy();
  const yNegative = y.map((k) => (k + 1) % 4);
  const iterations = 3;
  const network = net({ iterations, testIterations: [1, 3] });
  const widths = [...network.dims, network.numClasses];
  const weights = weightsOf(network);
  const xs = x.arraySync();
  const got = network.gradients(x, y, yNegative);
  const inputsOf = (w: typeof weights) =>
    [y, yNegative].map((labels) => plainInputs(w, xs, oneHot(labels, 4), widths, iterations));
  const [positive, negative] = inputsOf(weights);
  // Sum-of-squares goodness: each layer's threshold is its width.
  const threshold = (i: number) => network.layers[i].options.threshold;
  /** Layer i's loss, the mean over the steps, its inputs those of the unchanged network. */
  const local = (i: number, layer: (typeof weights)[number]) =>
    positive.reduce(
      (a, _, t) => a + plainLoss(layer, positive[t][i], negative[t][i], threshold(i)),
      0,
    ) /
    iterations;
  /** The same loss with the change also flowing through the states (backprop through time). */
  const unrolled = (i: number, changed: typeof weights) => {
    const [p, n] = inputsOf(changed);
    return p.reduce((a, _, t) => a + plainLoss(changed[i], p[t][i], n[t][i], threshold(i)), 0) /
      iterations;
  };
  const eps = 1e-4;
  let throughTimeDiffers = false;
  weights.forEach((layer, i) => {
    const weight = got[i].weight.arraySync();
    const bias = got[i].bias.arraySync();
    assertAlmostEquals(got[i].loss.dataSync()[0], local(i, layer), 1e-5);
    layer.weight.forEach((row, j) =>
      row.forEach((_, k) => {
        const at = (delta: number) => {
          const changed = weights.map((l) => ({
            weight: l.weight.map((r) => [...r]),
            bias: l.bias,
          }));
          changed[i].weight[j][k] += delta;
          return changed;
        };
        const numeric = (local(i, at(eps)[i]) - local(i, at(-eps)[i])) / (2 * eps);
        assertAlmostEquals(
          weight[j][k],
          numeric,
          1e-4 + 1e-3 * Math.abs(numeric),
          `dW${i}[${j}][${k}]`,
        );
        const through = (unrolled(i, at(eps)) - unrolled(i, at(-eps))) / (2 * eps);
        if (Math.abs(through - numeric) > 1e-3 + 1e-2 * Math.abs(numeric)) {
          throughTimeDiffers = true;
        }
      })
    );
    layer.bias.forEach((_, j) => {
      const at = (delta: number) => ({
        ...layer,
        bias: layer.bias.map((b, m) => m === j ? b + delta : b),
      });
      const numeric = (local(i, at(eps)) - local(i, at(-eps))) / (2 * eps);
      assertAlmostEquals(bias[j], numeric, 1e-4 + 1e-3 * Math.abs(numeric), `db${i}[${j}]`);
    });
  });
  // The test can tell: the gradient through the states (which it must not be) is another.
  assert(throughTimeDiffers);
  tf.dispose([x, ...got.flatMap((g) => [g.loss, g.weight, g.bias])]);
  network.dispose();
});

Deno.test("a seeded run repeats exactly, leaves no tensor behind, and a step changes the weights", async () => {
  const { x, y } = toy(40);
  const before = tf.memory().numTensors;
  const run = async () => {
    const network = net({ readout: {}, peerNormalization: 0.03 });
    await network.trainMiniBatch(x, y, {
      batchSize: 10,
      epochs: 2,
      negatives: "hard",
      seed: 5,
      cooldown: true,
    });
    const weights = network.variables.map((v) => Array.from(v.dataSync()));
    const predicted = network.predictEach(x);
    const labels = Object.values(predicted).map((t) => Array.from(t!.dataSync()));
    tf.dispose(Object.values(predicted));
    const states = network.settle(x, y);
    const perStep = network.goodnessPerIteration(x);
    assertEquals(perStep.shape, [40, 4, 8]);
    tf.dispose([...states.flat(), perStep]);
    const losses = network.losses;
    network.dispose();
    return { weights, labels, losses };
  };
  const first = await run();
  assertEquals(tf.memory().numTensors, before);
  const second = await run();
  assertEquals(second, first);
  const fresh = net({ readout: {}, peerNormalization: 0.03 });
  assert(first.weights[0].some((v, i) => v !== fresh.layers[0].weight.dataSync()[i]));
  fresh.dispose();
  x.dispose();
});

Deno.test("a tiny run on 1,000 MNIST digits beats chance (90% error) by far", async () => {
  const data = await loadMnistOrSubset("data/mnist", { pixels: "unit" });
  const train = pick(data.train, Array.from({ length: 1000 }, (_, i) => i));
  const test = pick(data.test, Array.from({ length: 300 }, (_, i) => i));
  const network = new RecurrentFF([784, 100, 100], {
    normalize: "rms",
    goodness: "sum",
    init: "normal",
    optimizer: "sgd",
    learningRate: 0.01,
    weightDecay: 0.001,
    peerNormalization: 0.03,
    readout: {},
    seed: 1,
  });
  await network.trainMiniBatch(train.x, train.y, { batchSize: 50, epochs: 2, negatives: "hard" });
  const predicted = network.predictEach(test.x);
  for (const [readout, labels] of Object.entries(predicted)) {
    const values = labels!.dataSync();
    const error = values.filter((k, i) => k !== test.y[i]).length / values.length;
    // 300 digits: chance would be 0.90 ± 0.02.
    assert(error < 0.8, `${readout} error ${error} on 300 test digits`);
  }
  tf.dispose([...Object.values(predicted), train.x, test.x]);
  network.dispose();
});

Deno.test({
  name: "deno task train --recipe recurrent-quick, as a process: metrics.json, weights that load",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
}, async () => {
  const out = await Deno.makeTempDir();
  const cli = new URL("../cli/train.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "--data", mnistDir!, ...args],
      env: { FF_BACKEND: "auto" },
    }).output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code, out: text(stdout), err: text(stderr) };
  };
  const size = ["--train-size", "200", "--layers", "12,12", "--epochs", "2"];
  const trained = await run("--recipe", "recurrent-quick", ...size, "--out", `${out}/run`);
  assertEquals(trained.code, 0, trained.err);
  const metrics = JSON.parse(await Deno.readTextFile(`${out}/run/metrics.json`));
  assertEquals(metrics.recipe, "recurrent-quick");
  assertEquals(Object.keys(metrics.errors), ["goodness", "goodness-skip-first", "softmax"]);
  const best = Object.keys(metrics.errors).reduce((a, b) =>
    metrics.errors[b].validation < metrics.errors[a].validation ? b : a
  );
  assertEquals(metrics.readout, best);
  assertEquals(metrics.test_error, metrics.errors[best].test);
  assertEquals(metrics.losses.map((l: number[]) => l.length), [2, 2]);
  const loaded = await loadNetwork(`${out}/run/weights.ffw`);
  assert(loaded instanceof RecurrentFF);
  assertEquals(loaded.dims, [784, 12, 12]);
  assertEquals(loaded.testIterations, [3, 5]);
  loaded.dispose();
  // Bad settings: one line, in the CLI's terms.
  const bad = await run("--recipe", "recurrent-quick", "--shift", "1", "--out", `${out}/bad`);
  assertEquals(bad.code, 1);
  assertEquals(bad.err.trim().split("\n").length, 1, bad.err);
  assertStringIncludes(bad.err, "--shift is not supported by the recurrent network");
  await Deno.remove(out, { recursive: true });
});

Deno.test("bad settings are refused in one line naming the setting", async () => {
  const cases: [RecurrentOptions, string][] = [
    [{ damping: 1 }, "damping"],
    [{ iterations: 0 }, "iterations must be a positive integer"],
    [{ testIterations: [4, 9] }, "testIterations must be [first, last]"],
    [{ numClasses: 1 }, "numClasses"],
    [{ readout: { learningRate: -1 } }, "readout.learningRate"],
    [{ iteration: 3 } as RecurrentOptions, 'unknown option "iteration": did you mean "iterations"'],
  ];
  const before = tf.memory().numTensors;
  for (const [options, says] of cases) {
    const error = assertThrows(() => net(options), Error, says);
    assertEquals(error.message.split("\n").length, 1);
  }
  assertEquals(tf.memory().numTensors, before);
  const { x, y } = toy();
  const network = net();
  for (
    const [options, says] of [
      [{ shift: 1 }, "shift is not supported by the recurrent network"],
      [{ negatives: "hard" as const }, 'negatives "hard" are drawn from the softmax readout'],
    ] as const
  ) {
    let message = "";
    try {
      await network.trainMiniBatch(x, y, { batchSize: 4, epochs: 1, ...options });
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message.includes(says), message);
  }
  assertThrows(() => network.predict(tf.zeros([2, 5])), Error, "one per row of 6 values (dims[0])");
  tf.dispose(x);
  network.dispose();
});
