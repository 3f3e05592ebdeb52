// Checkpoints in the library: a stopped run continues to the very numbers of one never stopped,
// and what goes wrong on the way (another run's checkpoint, weights gone to NaN, a folder that
// cannot be written) says so in one line. The CLI's signals: tests/resume_cli_test.ts.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  CHECKPOINT_FILE,
  combineXY,
  type EpochProgress,
  FFNN,
  IMAGE_SIZE,
  type Mnist,
  negativeLabels,
  openCheckpoint,
  progressReporter,
  readCheckpoint,
  type Recipe,
  recipe,
  runExperiment,
  seededRandom,
  setBackend,
  tf,
  TrainingDiverged,
  TrainingInterrupted,
} from "../lib/mod.ts";
import { blasLibrary, registerBlasBackend } from "../lib/backends/blas.ts";
import { checksummedJson } from "../lib/files.ts";
import { networkState } from "../lib/weights.ts";
import { ignoreUnless } from "./shared.ts";

await setBackend("cpu");

/** Random images and labels: meaningless to learn, but every number is reproducible. */
function syntheticData(trainCount = 360, testCount = 40): Mnist {
  const random = seededRandom(11);
  const split = (count: number) => ({
    images: Float32Array.from({ length: count * IMAGE_SIZE }, () => random() * 2 - 0.5),
    labels: Int32Array.from({ length: count }, () => Math.floor(random() * 10)),
    count,
  });
  return {
    train: split(trainCount),
    test: split(testCount),
    source: "synthetic",
    pixels: "standard",
    isSubset: false,
  };
}

const data = syntheticData();
const RECIPES: [string, Recipe][] = [
  ["full batch (the post)", recipe("post", { layers: [12, 12], epochs: 6, trainSize: 200 })],
  [
    "mini-batches (Hinton's, with shifts and dropout)",
    recipe("fast", {
      layers: [12, 12],
      epochs: 4,
      batchSize: 50,
      trainSize: 200,
      shift: 1,
      dropout: 0.1,
    }),
  ],
  [
    "the recurrent network",
    recipe("recurrent-quick", { layers: [12, 12], epochs: 4, batchSize: 50, trainSize: 200 }),
  ],
];

async function outcome(result: Awaited<ReturnType<typeof runExperiment>>) {
  const weights = JSON.stringify(await networkState(result.net));
  const steps = result.net.layers.map((layer) => layer.optimizer.steps);
  result.net.dispose();
  return { weights, steps, errors: result.errors, losses: result.losses };
}

const blas = registerBlasBackend().ok;
for (const [[name, r], backend] of RECIPES.flatMap((c) => [[c, "cpu"], [c, "blas"]] as const)) {
  Deno.test({
    name: `${name}, ${backend}: a run stopped twice continues to the very weights, errors and ` +
      "losses of one never stopped",
    ignore: ignoreUnless(blas || backend === "cpu", "OpenBLAS"),
  }, async () => {
    await setBackend(backend);
    try {
      const whole = await outcome(await runExperiment(data, r));
      const dir = await Deno.makeTempDir();
      const stops = r.batchSize ? [1, 3] : [4, 9]; // the 9th report is layer 2, epoch 3
      let reports = 0;
      for (const stop of stops) {
        const controller = new AbortController();
        const error = await assertRejects(
          () =>
            runExperiment(data, r, {
              checkpoint: { dir, signal: controller.signal },
              onEpoch: () => void (++reports === stop && controller.abort()),
            }),
          TrainingInterrupted,
          "train again with the same checkpoint folder",
        ) as TrainingInterrupted;
        assertEquals(error.saved, error.position);
        const saved = await readCheckpoint(dir);
        assertEquals(saved?.position, error.position);
        assertEquals(error.losses.flat().length, stop * (r.batchSize ? r.layers.length : 1));
      }
      const warnings: string[] = [];
      const resumed = await outcome(
        await runExperiment(data, r, {
          checkpoint: { dir, onWarning: (w) => void warnings.push(w) },
        }),
      );
      assertEquals(warnings, [], "the same machinery: nothing to warn of");
      assertEquals(resumed.steps, whole.steps, "Adam's and SGD's step counts");
      assert(resumed.weights === whole.weights, "the weights differ from the uninterrupted run's");
      assertEquals(resumed.errors, whole.errors);
      assertEquals(resumed.losses, whole.losses);
      await Deno.remove(dir, { recursive: true });
    } finally {
      await setBackend("cpu");
    }
  });
}

Deno.test({
  name: "continued on another backend: it goes on, warning that the last bits can differ",
  ignore: ignoreUnless(blas, "OpenBLAS"),
}, async () => {
  const r = RECIPES[1][1];
  const dir = await Deno.makeTempDir();
  const controller = new AbortController();
  await assertRejects(() =>
    runExperiment(data, r, {
      checkpoint: { dir, signal: controller.signal },
      onEpoch: () => controller.abort(),
    }), TrainingInterrupted);
  await setBackend("blas");
  try {
    const warnings: string[] = [];
    const result = await runExperiment(data, r, {
      checkpoint: { dir, onWarning: (w) => void warnings.push(w) },
    });
    result.net.dispose();
    const { config, threads } = blasLibrary()!;
    assertEquals(warnings, [
      `${dir}/${CHECKPOINT_FILE} was written on backend cpu, this run uses backend blas ` +
      `(${config}, threads: ${threads}): its numbers can differ in the last bits from a run ` +
      `that never stopped`,
    ]);
  } finally {
    await setBackend("cpu");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a notebook cell interrupted mid-run continues from its last checkpoint when run again", async () => {
  const [, r] = RECIPES[0];
  const whole = await outcome(await runExperiment(data, r));
  const dir = await Deno.makeTempDir();
  // A kernel interrupt ends the cell's JavaScript where it stands: here, in the 8th report,
  // before that epoch's checkpoint (written after the caller's callback) exists.
  let reports = 0;
  await assertRejects(() =>
    runExperiment(data, r, {
      checkpoint: { dir, everyMinutes: 0 },
      onEpoch: () => {
        if (++reports === 8) throw new Error("interrupted");
      },
    })
  );
  assertEquals((await readCheckpoint(dir))?.position, { layer: 1, layers: 2, epoch: 1, epochs: 6 });
  // A leftover of a write cut short is swept away, never read.
  await Deno.writeTextFile(`${dir}/${CHECKPOINT_FILE}.tmp-0123abcd`, '{"half": ');
  const seen: EpochProgress[] = [];
  const resumed = await runExperiment(data, r, {
    checkpoint: dir,
    onEpoch: (p) => void seen.push(p),
  });
  assertEquals(seen.map((p) => `${p.layer}:${p.epoch}`), ["1:2", "1:3", "1:4", "1:5", "1:6"]);
  const { weights, ...rest } = await outcome(resumed);
  assert(weights === whole.weights, "the weights differ from the uninterrupted run's");
  assertEquals(rest, { steps: whole.steps, errors: whole.errors, losses: whole.losses });
  assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), [CHECKPOINT_FILE]);
  // Run again when finished, the cell only scores: nothing is left to train.
  const again = await runExperiment(data, r, { checkpoint: dir, onEpoch: () => assert(false) });
  assertEquals(again.errors, whole.errors);
  again.net.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("another run's checkpoint is refused, naming the setting that differs", async () => {
  const dir = await Deno.makeTempDir();
  const r = recipe("post", { layers: [8], epochs: 2, trainSize: 100 });
  (await runExperiment(data, r, { checkpoint: dir })).net.dispose();
  await assertRejects(
    () => runExperiment(data, { ...r, epochs: 3 }, { checkpoint: dir }),
    Error,
    `${dir}/checkpoint.json is from another run: epochs is 2 there, 3 here; train with the ` +
      "same settings to continue it, or give another checkpoint folder",
  );
  await assertRejects(
    () => runExperiment({ ...syntheticData(420), source: "more" }, r, { checkpoint: dir }),
    Error,
    "it was trained on other data (synthetic) than more",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("weights that stop being finite stop training, naming layer, epoch and setting; the last good checkpoint stays", async () => {
  const dir = await Deno.makeTempDir();
  // The training calls themselves, as a notebook makes them, with a checkpoint.
  const x = tf.tensor2d(data.train.images.subarray(0, 100 * IMAGE_SIZE), [100, IMAGE_SIZE]);
  const y = data.train.labels.subarray(0, 100);
  const [xPositive, xNegative] = [combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 }))];
  const net = new FFNN([IMAGE_SIZE + 10, 8, 8], { epochs: 5, seed: 1 });
  const checkpoint = await openCheckpoint(net, { dir, everyMinutes: 0 });
  await assertRejects(
    () =>
      net.train(xPositive, xNegative, {
        start: checkpoint.start,
        onEpoch: checkpoint.onEpoch(({ layer, epoch }) => {
          // Stands for an update that overflowed while its loss, computed before it, was finite.
          if (layer === 1 && epoch === 3) {
            tf.tidy(() => net.layers[1].weight.assign(tf.fill([8, 8], NaN)));
          }
        }),
      }),
    TrainingDiverged,
    "weights became NaN at layer 2 epoch 3: lower learningRate (now 0.03)",
  );
  assertEquals((await readCheckpoint(dir))?.position, { layer: 1, layers: 2, epoch: 2, epochs: 5 });
  tf.dispose([x, xPositive, xNegative]);
  net.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mini-batches at a learning rate far too large: a silent layer warns once; overflow mid-epoch names layer and epoch", async () => {
  const random = seededRandom(3);
  const x = tf.tensor2d(Array.from({ length: 300 * 30 }, random), [300, 30]);
  const y = Int32Array.from({ length: 300 }, (_, i) => i % 10);
  const build = (learningRate: number) =>
    new FFNN([30, 20, 20], {
      optimizer: "sgd",
      learningRate,
      label: "overlay",
      labelValue: 1,
      readout: { fromLayer: 0 },
    });
  // The run: the loss stuck at 1.1269 from the second epoch on, and not a word.
  const stuck = build(1e6);
  const warnings: string[] = [];
  await stuck.trainMiniBatch(x, y, {
    batchSize: 50,
    epochs: 4,
    negatives: "hard",
    onEpoch: ({ warning }) => void (warning && warnings.push(warning)),
  });
  assertEquals(warnings, [
    "layer 1: no unit is active on any training input (epoch 2), so it has stopped learning: " +
    "lower learningRate (now 1000000)",
  ]);
  // Weights that overflow leave the readout's scores NaN, and no hard negative to draw from them.
  const wild = build(1e30);
  await assertRejects(
    () => wild.trainMiniBatch(x, y, { batchSize: 50, epochs: 2, negatives: "hard" }),
    TrainingDiverged,
    "loss became NaN at layer 1 epoch 1: lower learningRate (now 1e+30)",
  );
  tf.dispose(x);
  stuck.dispose();
  wild.dispose();
});

Deno.test("a checkpoint that cannot be written: one warning and training goes on, or a stop where they were required", async () => {
  const r = recipe("post", { layers: [8], epochs: 4, trainSize: 100 });
  for (const required of [false, true]) {
    const dir = await Deno.makeTempDir();
    const warnings: string[] = [];
    // The folder turns into a file: every write from then on fails, as on a full disk.
    const run = runExperiment(data, r, {
      checkpoint: { dir, everyMinutes: 0, required, onWarning: (w) => void warnings.push(w) },
      onEpoch: async ({ epoch }) => {
        if (epoch !== 2) return;
        await Deno.remove(dir, { recursive: true });
        await Deno.writeTextFile(dir, "");
      },
    });
    if (required) {
      await assertRejects(
        () => run,
        Error,
        `cannot write the checkpoint ${dir}/checkpoint.json: `,
      );
      assertEquals(warnings, []);
    } else {
      const result = await run;
      assertEquals(result.losses[0].length, 4, "training went on to its end");
      result.net.dispose();
      assertEquals(warnings.length, 1, warnings.join("\n"));
      assertStringIncludes(warnings[0], `cannot write the checkpoint ${dir}/checkpoint.json (`);
      assertStringIncludes(warnings[0], "); training goes on without it");
    }
    assertEquals(await Deno.readTextFile(dir), "", "nothing half-written where the folder was");
    await Deno.remove(dir);
  }
});

Deno.test("a resumed run's time left counts only the epochs it has run since", async () => {
  let clock = 0;
  const lines: string[] = [];
  const report = progressReporter({ mode: "lines", now: () => clock, write: (t) => lines.push(t) });
  // Resumed after epoch 90 of layer 1 of 2, at 1 s an epoch: after ten, 100 s are left.
  for (let epoch = 91; epoch <= 100; epoch++) {
    clock += 1000;
    await report({ layer: 0, layers: 2, epoch, epochs: 100, loss: 1 });
  }
  assertStringIncludes(lines[0], "layer 1/2 epoch 100/100 loss 1.0000 elapsed 10.0s ETA 1m40s");
});

/** The one-line error `run` gives, asserted to name `path`. */
async function oneLineError(run: () => Promise<unknown>, path: string): Promise<string> {
  const message = (await assertRejects(run) as Error).message;
  assert(!message.includes("\n"), `more than one line: ${message}`);
  assertStringIncludes(message, path);
  return message;
}

Deno.test("a damaged checkpoint says so in one line: a changed character anywhere, a cut, a position that cannot be", async () => {
  const r = recipe("post", { layers: [8, 8], epochs: 4, trainSize: 100 });
  const whole = await outcome(await runExperiment(data, r));
  const dir = await Deno.makeTempDir();
  const path = `${dir}/${CHECKPOINT_FILE}`;
  let reports = 0;
  await assertRejects(() =>
    runExperiment(data, r, {
      checkpoint: { dir, everyMinutes: 0 },
      onEpoch: () => {
        if (++reports === 7) throw new Error("interrupted"); // layer 2, epoch 3: saved 2
      },
    })
  );
  const good = await Deno.readTextFile(path);
  const saved = JSON.parse(good);
  assertEquals(saved.position, { layer: 1, layers: 2, epoch: 2, epochs: 4 });
  const resume = () => runExperiment(data, r, { checkpoint: dir });
  const at = (needle: string) => good.indexOf(needle) + needle.length;
  for (
    const offset of [
      at('"epoch":'), // the position: epoch 2 becomes 3
      at('"losses":[[') + 2,
      at('"learningRate":') + 2, // the recipe
      at('"data":"') + 10, // a weight's base64
      at('"fingerprint":"') + 5,
      good.length - 10, // the checksum itself
    ]
  ) {
    const c = good[offset];
    await Deno.writeTextFile(
      path,
      good.slice(0, offset) + (c === "2" ? "3" : "2") + good.slice(offset + 1),
    );
    assertStringIncludes(await oneLineError(resume, path), "is damaged: its contents do not match");
    await oneLineError(() => readCheckpoint(dir), path);
  }
  for (const length of [0, 1, 500, Math.floor(good.length / 2), good.length - 1]) {
    await Deno.writeTextFile(path, good.slice(0, length));
    await oneLineError(resume, path);
  }
  // Positions that cannot be, in files whose checksum agrees (as a file from a faulty writer's).
  const { sha256: _, ...rest } = saved;
  const impossible = [
    [
      { layer: 1, layers: 2, epoch: 99, epochs: 30 },
      "it says training stands at layer 2 epoch 99 of 30, which cannot be",
    ],
    [
      { layer: 1, layers: 2, epoch: 4, epochs: 4 },
      "in a run of 4 epochs per layer over 2 layers with its losses (4, 2 of them)",
    ],
    [
      { layer: 0, layers: 1, epoch: 2, epochs: 4 },
      "which cannot be in a run of 4 epochs per layer over 2 layers",
    ],
    [{ layer: 1, layers: 2, epoch: 2, epochs: 30 }, "layer 2 epoch 2 of 30, which cannot be"],
  ] as const;
  for (const [position, message] of impossible) {
    await Deno.writeTextFile(path, await checksummedJson({ ...rest, position }));
    assertStringIncludes(await oneLineError(resume, path), message);
  }
  // A checkpoint from before checksums (version 1) continues, to the very same weights...
  const old = { ...rest, version: 1 };
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...old, position: { ...old.position, epoch: 99 } }),
  );
  assertStringIncludes(await oneLineError(resume, path), "epoch 99 of 4, which cannot be");
  await Deno.writeTextFile(path, JSON.stringify({ ...old, losses: [1, 2] }));
  assertStringIncludes(
    await oneLineError(resume, path),
    "is damaged: its losses are not lists of numbers",
  );
  await Deno.writeTextFile(path, JSON.stringify(old));
  const resumed = await outcome(await runExperiment(data, r, { checkpoint: dir }));
  assert(resumed.weights === whole.weights, "the weights differ from the uninterrupted run's");
  assertEquals(resumed.losses, whole.losses);
  await Deno.remove(dir, { recursive: true });
});
