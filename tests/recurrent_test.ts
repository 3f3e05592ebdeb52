import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { RecurrentFF, type RecurrentOptions, setBackend, tf } from "../lib/mod.ts";
import { registerBlasBackend } from "../lib/backends/blas.ts";
import { loadMnistOrSubset, pick } from "../lib/data/mod.ts";
import { loadNetwork } from "../lib/weights.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");

await setBackend("cpu");

const BACKENDS = ["cpu", "wasm", ...(registerBlasBackend().ok ? ["blas"] : [])];

/** The test once per backend (each computes with its own kernels), back on cpu after. */
function onEachBackend(name: string, fn: () => void | Promise<void>) {
  for (const backend of BACKENDS) {
    Deno.test(`${backend}: ${name}`, async () => {
      await setBackend(backend);
      try {
        await fn();
      } finally {
        await setBackend("cpu");
      }
    });
  }
}

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

/** The label layer: one-hot rows whose one entry is `value`. */
function oneHot(labels: ArrayLike<number>, classes: number, value: number): Rows {
  return Array.from(labels, (k) => Array.from({ length: classes }, (_, j) => j === k ? value : 0));
}

/**
 * The label's length at the top: that of a state of the top hidden layer with a mean square of 1
 * (the tests' networks normalise by RMS), √width.
 */
function labelLength(network: RecurrentFF): number {
  return Math.sqrt(network.dims[network.dims.length - 1]);
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

/**
 * Hidden layer i's input in row r, from `layersOf` (pixels, hidden states, label): the
 * normalised layer below and the layer above, normalised unless it is the label.
 */
function inputOf(layersOf: Rows[], i: number, r: number): number[] {
  const above = layersOf[i + 2][r];
  return [...rms(layersOf[i][r]), ...(i + 2 === layersOf.length - 1 ? above : rms(above))];
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
    const input = x.map((_, r) => inputOf(layersOf, i, r));
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

onEachBackend("one damped synchronous step equals a plain loop over the layers", () => {
  const { x, y } = toy();
  const network = net();
  const widths = [...network.dims, network.numClasses];
  const weights = weightsOf(network);
  const xs = x.arraySync();
  const states = network.settle(x, y, 2);
  const expected0 = bottomUp(weights, xs, widths);
  states[0].forEach((s, i) => assertClose(s.arraySync(), expected0[i], 1e-5, `step 0 layer ${i}`));
  // From the network's own states at step 0, one step; then the next from the plain ones.
  const top = oneHot(y, 4, labelLength(network));
  const one = plainStep(weights, xs, top, states[0].map((s) => s.arraySync()));
  states[1].forEach((s, i) => assertClose(s.arraySync(), one.next[i], 1e-5, `step 1 layer ${i}`));
  const two = plainStep(weights, xs, top, one.next);
  states[2].forEach((s, i) => assertClose(s.arraySync(), two.next[i], 1e-4, `step 2 layer ${i}`));
  // Damping matters: the new state is not the computed activity alone.
  assert(
    one.next[0].some((row, r) => row.some((v, j) => Math.abs(v - one.computed[0][r][j]) > 1e-3)),
  );
  // A label of another length, as asked: the top layer's step follows it.
  const quiet = net({ labelLength: 0.5 });
  const [start, next] = quiet.settle(x, y, 1);
  const expected = plainStep(
    weightsOf(quiet),
    xs,
    oneHot(y, 4, 0.5),
    start.map((s) => s.arraySync()),
  );
  next.forEach((s, i) =>
    assertClose(s.arraySync(), expected.next[i], 1e-5, `length 0.5 layer ${i}`)
  );
  tf.dispose([x, ...states.flat(), ...start, ...next]);
  network.dispose();
  quiet.dispose();
});

onEachBackend(
  "the test score is each label's goodness, summed over layers, averaged over steps 3 to 5",
  () => {
    const { x } = toy();
    const network = net();
    const widths = [...network.dims, network.numClasses];
    const weights = weightsOf(network);
    const xs = x.arraySync();
    const start = bottomUp(weights, xs, widths);
    const sumSquares = (row: number[]) => row.reduce((a, v) => a + v * v, 0);
    const expected = { all: xs.map(() => [] as number[]), skipFirst: xs.map(() => [] as number[]) };
    for (let label = 0; label < 4; label++) {
      const top = oneHot(xs.map(() => label), 4, labelLength(network));
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
  },
);

onEachBackend(
  "goodness at every step equals a plain loop, and any range of steps averages it",
  () => {
    const { x } = toy();
    const network = net({ iterations: 6, testIterations: [2, 4] });
    const widths = [...network.dims, network.numClasses];
    const weights = weightsOf(network);
    const xs = x.arraySync();
    const start = bottomUp(weights, xs, widths);
    const sumSquares = (row: number[]) => row.reduce((a, v) => a + v * v, 0);
    // expected[r][label][t - 1]: goodness summed over the hidden layers at step t.
    const expected = xs.map(() => [] as number[][]);
    for (let label = 0; label < 4; label++) {
      const top = oneHot(xs.map(() => label), 4, labelLength(network));
      let states = start;
      const perStep = xs.map(() => [] as number[]);
      for (let t = 1; t <= 6; t++) {
        const { computed, next } = plainStep(weights, xs, top, states);
        xs.forEach((_, r) => perStep[r].push(computed.reduce((a, h) => a + sumSquares(h[r]), 0)));
        states = next;
      }
      perStep.forEach((values, r) => expected[r].push(values));
    }
    const perStep = network.goodnessPerIteration(x);
    perStep.arraySync().forEach((rows, r) => assertClose(rows, expected[r], 1e-3, `image ${r}`));
    for (const [first, last] of [[1, 1], [2, 4], [5, 6], [1, 6]] as [number, number][]) {
      const mean = (values: number[]) =>
        values.slice(first - 1, last).reduce((a, b) => a + b) / (last - first + 1);
      const scores = RecurrentFF.meanOverSteps(perStep, [first, last]);
      assertClose(scores.arraySync(), expected.map((labels) => labels.map(mean)), 1e-3, "mean");
      scores.dispose();
    }
    // The test's own score is the mean over its steps.
    const own = network.goodnessPerLabel(x);
    const mean = RecurrentFF.meanOverSteps(perStep, [2, 4]);
    assertClose(own.arraySync(), mean.arraySync(), 1e-4, "testIterations");
    const error = assertThrows(() => RecurrentFF.meanOverSteps(perStep, [3, 7]), Error);
    assertEquals(
      error.message,
      "steps must be [first, last] with 1 <= first <= last <= 6 (the steps given), got [3,7]",
    );
    tf.dispose([x, perStep, own, mean]);
    network.dispose();
  },
);

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
      weights.map((_, i) => x.map((_, r) => inputOf(layersOf, i, r))),
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

onEachBackend(
  "each layer's gradient is its own FF loss's, with its input at every step held constant",
  () => {
    const { x, y } = toy();
    const yNegative = y.map((k) => (k + 1) % 4);
    const iterations = 3;
    const network = net({ iterations, testIterations: [1, 3] });
    const widths = [...network.dims, network.numClasses];
    const weights = weightsOf(network);
    const xs = x.arraySync();
    const got = network.gradients(x, y, yNegative);
    const inputsOf = (w: typeof weights) =>
      [y, yNegative].map((labels) =>
        plainInputs(w, xs, oneHot(labels, 4, labelLength(network)), widths, iterations)
      );
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
  },
);

onEachBackend(
  "a seeded run repeats exactly, leaves no tensor behind, and a step changes the weights",
  async () => {
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
  },
);

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
  name:
    "deno task train --recipe recurrent-quick, as a process: step flags, metrics.json, weights that load",
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
  // The step settings, each away from the recipe's, by their flags.
  const steps = [
    ...["--iterations", "4", "--damping", "0.5", "--test-iterations", "2-3", "--label-length", "5"],
  ];
  const trained = await run(
    "--recipe",
    "recurrent-quick",
    ...size,
    ...steps,
    "--out",
    `${out}/run`,
  );
  assertEquals(trained.code, 0, trained.err);
  const metrics = JSON.parse(await Deno.readTextFile(`${out}/run/metrics.json`));
  assertEquals(metrics.recipe, "recurrent-quick");
  assertEquals(metrics.config.recurrent, {
    iterations: 4,
    damping: 0.5,
    testIterations: [2, 3],
    labelLength: 5,
  });
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
  assertEquals(
    [loaded.iterations, loaded.damping, loaded.testIterations, loaded.labelLength],
    [4, 0.5, [2, 3], 5],
  );
  loaded.dispose();
  // Bad settings: one line, in the CLI's terms.
  for (
    const [args, says] of [
      [
        ["--recipe", "recurrent-quick", "--shift", "1"],
        "--shift is not supported by the recurrent network",
      ],
      [
        ["--recipe", "recurrent-quick", "--test-iterations", "3"],
        '--test-iterations must be two steps FIRST-LAST, e.g. 3-5, got "3"',
      ],
      [
        ["--recipe", "recurrent-quick", "--damping", "1"],
        '--damping must be a number >= 0 and < 1, got "1"',
      ],
      [
        ["--recipe", "recurrent-quick", "--label-length", "0"],
        '--label-length must be a number > 0, got "0"',
      ],
      [
        ["--recipe", "recurrent-quick", "--iterations", "2"],
        "--test-iterations must be [first, last] steps with 1 <= first <= last <= --iterations (2)",
      ],
      [
        ["--recipe", "hinton", "--iterations", "4"],
        "--iterations is a setting of the recurrent recipes: add --recipe recurrent or recurrent-quick",
      ],
    ] as [string[], string][]
  ) {
    const bad = await run(...args, "--out", `${out}/bad`);
    assertEquals(bad.code, 1, args.join(" "));
    assertEquals(bad.err.trim().split("\n").length, 1, bad.err);
    assertStringIncludes(bad.err, says);
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test("bad settings are refused in one line naming the setting", async () => {
  const cases: [RecurrentOptions, string][] = [
    [{ damping: 1 }, "damping"],
    [{ labelLength: 0 }, "labelLength"],
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
