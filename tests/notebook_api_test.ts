/**
 * The notebooks' API (issue #21): setup(), trainingPlot() and the committed full-size runs
 * (fullRun, fullRuns), the way a notebook cell calls them.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { tf } from "../lib/core/deps.ts";
import { Layer } from "../lib/core/layer.ts";
import type { EpochProgress } from "../lib/core/mod.ts";
import type { DisplayOptions, MimeBundle } from "../lib/jupyter.ts";
import { fullRun, fullRuns, setup } from "../lib/notebook.ts";
import { trainingPlot } from "../lib/plot/live.ts";
import { recipe, runExperiment } from "../lib/experiment.ts";

const PLOTLY = "application/vnd.plotly.v1+json";

type Trace = { name: string; x: number[]; y: number[] };

/** A display that records what a kernel would have sent. */
function recorder() {
  const sent: { bundle: MimeBundle; options: DisplayOptions }[] = [];
  return {
    sent,
    display: (bundle: MimeBundle, options: DisplayOptions = {}) => {
      sent.push({ bundle, options });
      return Promise.resolve();
    },
    traces: (at = sent.length - 1) => (sent[at].bundle[PLOTLY] as { data: Trace[] }).data,
  };
}

/** Full-batch training's reports: each layer's epochs in turn, `msPerEpoch` of fake time apart. */
async function fullBatch(
  onEpoch: (p: EpochProgress) => Promise<void>,
  clock: { t: number },
  { layers, epochs, msPerEpoch }: { layers: number; epochs: number; msPerEpoch: number },
) {
  for (let layer = 0; layer < layers; layer++) {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      clock.t += msPerEpoch;
      await onEpoch({ layer, layers, epoch, epochs, loss: 1 / epoch + layer });
    }
  }
}

Deno.test("trainingPlot shows one figure and updates it in place, throttled, ending complete", async () => {
  const { sent, display, traces } = recorder();
  const clock = { t: 0 };
  const onEpoch = trainingPlot({ display, now: () => clock.t, minIntervalMs: 500 });
  await fullBatch(onEpoch, clock, { layers: 2, epochs: 50, msPerEpoch: 100 });
  // One display, then updates of it: never a second figure.
  const ids = new Set(sent.map(({ options }) => options.display_id));
  assertEquals(ids.size, 1);
  assertEquals(sent.map(({ options }) => options.update ?? false), [
    false,
    ...Array(sent.length - 1).fill(true),
  ]);
  // 10 s of training at most twice a second (plus each layer's end), not once per epoch.
  assert(sent.length <= 2 + 10_000 / 500 + 2, `${sent.length} redraws`);
  assert(sent.length >= 10, `${sent.length} redraws: too few to be live`);
  // The figure grows while training runs...
  const counts = sent.map((_, i) => traces(i).reduce((n, trace) => n + trace.x.length, 0));
  assert(counts.every((n, i) => i === 0 || n > counts[i - 1]), `point counts ${counts}`);
  // ...and its last state holds every epoch of every layer.
  const last = traces();
  assertEquals(last.map((trace) => trace.name), ["layer 1", "layer 2"]);
  assertEquals(last.map((trace) => trace.x.length), [50, 50]);
  assertEquals(last[1].y.at(-1), 1 / 50 + 1);
  const text = String(sent.at(-1)!.bundle["text/plain"]);
  assertStringIncludes(text, "layer 2: loss 1.0200 at epoch 50");
  assertStringIncludes(text, "trained in 10.0s");
  const layout = (sent.at(-1)!.bundle[PLOTLY] as { layout: Record<string, { title?: object }> })
    .layout;
  assert(layout.xaxis.title && layout.yaxis.title, "axis titles");
});

Deno.test("trainingPlot draws the first epoch, each layer's last and the run's last however fast", async () => {
  const { sent, display } = recorder();
  const clock = { t: 0 };
  await fullBatch(trainingPlot({ display, now: () => clock.t }), clock, {
    layers: 3,
    epochs: 40,
    msPerEpoch: 0,
  });
  assertEquals(sent.length, 4);
});

Deno.test("trainingPlot draws every layer of mini-batch training, which reports them together", async () => {
  const { display, traces } = recorder();
  const onEpoch = trainingPlot({ display });
  for (let epoch = 1; epoch <= 3; epoch++) {
    await onEpoch({
      layer: 0,
      layers: 1,
      epoch,
      epochs: 3,
      loss: 2 / epoch,
      losses: [1 / epoch, 3 / epoch],
    });
  }
  assertEquals(traces().map((trace) => [trace.name, trace.y]), [
    ["layer 1", [1, 1 / 2, 1 / 3]],
    ["layer 2", [3, 3 / 2, 1]],
  ]);
});

Deno.test("trainingPlot gives a second run with the same callback a figure of its own", async () => {
  const { sent, display } = recorder();
  const clock = { t: 0 };
  const onEpoch = trainingPlot({ display, now: () => clock.t });
  await fullBatch(onEpoch, clock, { layers: 1, epochs: 5, msPerEpoch: 1000 });
  await fullBatch(onEpoch, clock, { layers: 1, epochs: 5, msPerEpoch: 1000 });
  const ids = [...new Set(sent.map(({ options }) => options.display_id))];
  assertEquals(ids.length, 2);
  assertEquals(sent.filter(({ options }) => !options.update).length, 2);
});

Deno.test("trainingPlot outside Jupyter prints the text progress", async () => {
  let output = "";
  const clock = { t: 0 };
  await fullBatch(
    trainingPlot({ write: (text) => output += text, now: () => clock.t }),
    clock,
    { layers: 1, epochs: 10, msPerEpoch: 100 },
  );
  assertStringIncludes(output, "layer 1/1 epoch 10/10 loss 0.1000");
});

Deno.test("trainingPlot serves a Layer's own training and runExperiment's, full-batch and mini-batch", async () => {
  const layer = new Layer(6, 8, { epochs: 12, seed: 3 });
  const x = tf.randomNormal([16, 6], 0, 1, "float32", 1) as tf.Tensor2D;
  const y = tf.randomNormal([16, 6], 0, 1, "float32", 2) as tf.Tensor2D;
  const one = recorder();
  const [hx, hy] = await layer.train(x, y, { onEpoch: trainingPlot({ display: one.display }) });
  tf.dispose([x, y, hx, hy]);
  assertEquals(one.traces().map((trace) => trace.y), [layer.losses]);

  const data = await (await import("../lib/data/mod.ts")).loadMnistOrSubset("data/mnist");
  for (const name of ["post", "fast"]) {
    const r = recipe(name, { trainSize: 300, epochs: 3, layers: [20, 20] });
    const run = recorder();
    const result = await runExperiment(data, r, {
      validationSize: 500,
      onEpoch: trainingPlot({ display: run.display }),
    });
    result.net.dispose();
    assertEquals(run.traces().map((trace) => trace.y), result.losses, name);
  }
});

Deno.test("setup: backend, data trimmed to the run size, and one line saying so", async () => {
  const printed: unknown[] = [];
  const log = console.log;
  const before = Deno.env.get("FF_QUICK");
  Deno.env.set("FF_QUICK", "1");
  console.log = (...args: unknown[]) => printed.push(...args);
  let result;
  try {
    result = await setup({ dataDir: "data/mnist", backend: "cpu" });
  } finally {
    console.log = log;
    if (before === undefined) Deno.env.delete("FF_QUICK");
    else Deno.env.set("FF_QUICK", before);
  }
  const { size, data, backend } = result;
  assertEquals([size.name, backend, data.test.count], ["quick", "cpu", size.testSize]);
  assertEquals(printed.length, 1);
  const [line] = printed as string[];
  assert(!line.includes("\n"), line);
  for (const part of ["data: MNIST (data/mnist)", "backend: cpu", 'run size "quick"']) {
    assertStringIncludes(line, part);
  }
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => setup({ dataset: "cifar" as any }),
    Error,
    'setup\'s dataset "cifar" is unknown: use one of mnist, fashion-mnist',
  );
});

const METRICS = {
  command: "deno task train --recipe post --out /work/fullruns/post",
  commit: "01d4d4dabcdef0123456789abcdef0123456789a",
  date: "2026-12-07T16:03:11.000Z",
  recipe: "post",
  backend: "blas",
  blas: { library: "libopenblas.so.0", config: "OpenBLAS 0.3.21 NO_LAPACKE Haswell", threads: 2 },
  test_error: 0.0692,
  losses: [[0.9, 0.5], [0.8, 0.4]],
};

Deno.test("fullRun reads a committed run and names it in one line; fullRuns lists them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["zeta", "hinton", "post"]) {
      await Deno.mkdir(`${dir}/${name}`);
      await Deno.writeTextFile(`${dir}/${name}/metrics.json`, JSON.stringify(METRICS));
    }
    await Deno.mkdir(`${dir}/empty`);
    assertEquals(await fullRuns({ dir }), ["post", "hinton", "zeta"]);
    const run = await fullRun("post", { dir });
    assertEquals(run.metrics.test_error, 0.0692);
    assertEquals(
      run.source,
      'full-size run "post": deno task train --recipe post · commit 01d4d4d · 2026-12-07 · ' +
        "blas (OpenBLAS 0.3.21, 2 threads)",
    );
    await assertRejects(
      () => fullRun("fast", { dir }),
      Error,
      `no full-size run "fast" in ${dir}: use one of post, hinton, zeta`,
    );
    await Deno.writeTextFile(
      `${dir}/zeta/metrics.json`,
      JSON.stringify({ ...METRICS, losses: undefined }),
    );
    await assertRejects(() => fullRun("zeta", { dir }), Error, 'has no "losses"');
    assertEquals(await fullRuns({ dir: `${dir}/nothing-here` }), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
