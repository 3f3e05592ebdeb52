// `deno task train` end to end on a small slice of real MNIST, and its handling of bad input.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { loadMnist, loadNetwork, pick, readWeightsHeader, setBackend, tf } from "../lib/mod.ts";
import { blasLibrary } from "../lib/backends/mod.ts";
import { ignoreUnless, sharedPath, webgpuMissing } from "./shared.ts";
import { inFlagTerms } from "../cli/train.ts";

const mnistDir = sharedPath("data/mnist");
const cli = new URL("../cli/train.ts", import.meta.url).pathname;

async function train(...args: string[]) {
  return await trainIn(Deno.cwd(), ...args);
}

async function trainIn(cwd: string, ...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    env: { FF_BACKEND: "auto" },
    cwd,
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test("bad flags stop with one line that says what to change, in flags", async () => {
  // --resume of a folder with nothing to continue, or of a finished run; a new run over an
  // unfinished one.
  const [empty, finished, unfinished] = [
    await Deno.makeTempDir(),
    await Deno.makeTempDir(),
    await Deno.makeTempDir(),
  ];
  await Deno.writeTextFile(`${finished}/metrics.json`, '{"test_error": 0.07}');
  await Deno.writeTextFile(`${unfinished}/checkpoint.json`, "{}");
  for (
    const [args, expected] of [
      [["--epochs", "ten"], '--epochs must be an integer >= 1, got "ten"'],
      [["--bogus"], "--bogus"],
      [["--label", "sideways"], "--label must be one of concat, overlay"],
      [["--backend", "tpu"], "--backend must be one of"],
      [["--lr", "fast"], "--lr must be a number"],
      [["--lr", "-1"], '--lr must be a number > 0, got "-1"'],
      [["--momentum", "1.5"], '--momentum must be a number >= 0 and < 1, got "1.5"'],
      [
        ["--seed", "4294967296"],
        '--seed must be an integer from 0 to 4294967295, got "4294967296"',
      ],
      [["--layers", "10000000"], '--layers must be an integer from 1 to 1000000, got "10000000"'],
      [
        ["--layers", "300000,300000"],
        "--layers 300000,300000 needs 672.4 GiB for the weights and their optimiser state alone",
      ],
      [["--resume", `${empty}/none`], `--resume ${empty}/none: there is no such folder`],
      [["--resume", empty, "--overwrite"], "--overwrite cannot be given with --resume"],
      [["--recipe", "nope"], "--recipe must be one of fast, post, hinton, hinton-shift"],
      [
        ["--recipe", "post", "--dropout", "0.2"],
        "--dropout works with mini-batches only: set --batch-size",
      ],
      [
        ["--negatives", "hard", "--readout", "off"],
        'negatives "hard" are drawn from the softmax readout',
      ],
      [["--dataset", "cifar"], "--dataset must be one of mnist, fashion-mnist"],
      [
        ["--recipe", "post", "--readout-from", "1"],
        "--readout-from 1 needs the softmax readout: add --readout on",
      ],
      [
        ["--readout-from", "3"],
        "--readout-from 3: the last hidden layer is number 2: use 1 (all) to 2",
      ],
      [["--resume", empty, "--readout-from", "1"], "--readout-from cannot be given with --resume"],
      [
        ["--resume", empty, "--lr", "0.1"],
        `--lr cannot be given with --resume, which continues ${empty} with its own settings: ` +
        "drop --lr, or start a new run",
      ],
      [["--resume", empty, "--recipe", "post"], "--recipe cannot be given with --resume"],
      [["--resume", empty], `--resume ${empty}: there is no checkpoint.json to continue from`],
      [["--resume", finished], `--resume ${finished}: that run has finished; its results are in`],
      [
        ["--out", unfinished],
        `--out ${unfinished} holds the checkpoint of an unfinished run: continue it with ` +
        `--resume ${unfinished}, or choose another --out (or give --overwrite to discard it)`,
      ],
      [
        ["--out", finished],
        `--out ${finished} holds the results of another run (metrics.json): choose another ` +
        "--out, or give --overwrite to replace them",
      ],
      [["--checkpoint-every", "soon"], "--checkpoint-every must be a number of minutes >= 0"],
    ] as [string[], string][]
  ) {
    const { code, err } = await train(...args);
    assertEquals(code, 1, `exit code for ${args.join(" ")}: ${err}`);
    assertStringIncludes(err, expected);
    assertEquals(err.trim().split("\n").length, 1, `one line: ${err}`);
  }
  // Refused, and nothing in the folders changed.
  assertEquals(await Deno.readTextFile(`${finished}/metrics.json`), '{"test_error": 0.07}');
  assertEquals(await Deno.readTextFile(`${unfinished}/checkpoint.json`), "{}");
  for (const dir of [empty, finished, unfinished]) {
    assertEquals((await Array.fromAsync(Deno.readDir(dir))).length, dir === empty ? 0 : 1);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("option names become flags in messages, but never inside a path", () => {
  assertEquals(
    inFlagTerms("loss became NaN at layer 1 epoch 3: lower learningRate (now 10)."),
    "loss became NaN at layer 1 epoch 3: lower --lr (now 10).",
  );
  assertEquals(
    inFlagTerms("runs/shift holds the checkpoint of an unfinished run; shift.json, seed"),
    "runs/shift holds the checkpoint of an unfinished run; shift.json, --seed",
  );
  // A folder named on the command line stays as it is, whatever words it holds.
  assertEquals(
    inFlagTerms("--out /tmp/my epochs/seed is not writable; lower learningRate", [
      "/tmp/my epochs/seed",
    ]),
    "--out /tmp/my epochs/seed is not writable; lower --lr",
  );
  assertEquals(inFlagTerms("my epochs, my seed"), "my --epochs, my --seed");
  // Divergence names the setting the library blames, whichever it is, as its flag; the
  // readout's own rate has no flag and stays as the library says it.
  for (
    const [name, flag] of [
      ["learningRate", "--lr"],
      ["peerNormalization", "--peer"],
      ["threshold", "--threshold"],
      ["weightDecay", "--weight-decay"],
      ["momentum", "--momentum"],
      ["readout.learningRate", "readout.learningRate"],
    ]
  ) {
    assertEquals(
      inFlagTerms(`loss became NaN at layer 2 epoch 3: lower ${name} (now 1e+30)`),
      `loss became NaN at layer 2 epoch 3: lower ${flag} (now 1e+30)`,
    );
  }
});

for (
  const [name, args, layers] of [
    ["post", ["--recipe", "post", "--epochs", "3"], 2],
    ["fast", ["--epochs", "2", "--layers", "50,50", "--readout-from", "2"], 1],
  ] as const
) {
  Deno.test({
    name:
      `recipe ${name}: a small run writes metrics, loadable weights and a report; bad input later damages nothing`,
    ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
    async fn() {
      const out = await Deno.makeTempDir();
      const began = performance.now();
      const run = await train(
        "--data",
        mnistDir!,
        "--train-size",
        "300",
        "--seed",
        "5",
        "--out",
        out,
        ...args,
      );
      const whole = (performance.now() - began) / 1000;
      assertEquals(run.code, 0, run.err);
      assertMatch(run.out, /Test error: 0\.\d{4} \(readout [a-z-]+, the best on validation\)/);
      assertMatch(run.out, /goodness +training 0\.\d{4} +validation 0\.\d{4} +test 0\.\d{4}/);
      const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      assertEquals(metrics.recipe, name);
      assertEquals(metrics.config.trainSize, 300);
      assertEquals(metrics.config.seed, 5);
      // `--readout-from 2`: the readout reads the second layer on (0-based fromLayer 1).
      assertEquals(metrics.config.readout?.fromLayer, name === "fast" ? 1 : undefined);
      assertEquals(metrics.backend, await setBackend("auto"));
      // What the bits of a blas run depend on: the library, its kernels and its thread count.
      assertEquals(metrics.blas, metrics.backend === "blas" ? blasLibrary() : undefined);
      if (metrics.blas) assertStringIncludes(run.out, `threads: ${metrics.blas.threads}\n`);
      assert(metrics.test_error > 0 && metrics.test_error < 1);
      assertEquals(metrics.test_error, metrics.errors[metrics.readout].test);
      for (const e of Object.values(metrics.errors) as { validation: number }[]) {
        assert(
          e.validation >= metrics.errors[metrics.readout].validation,
          "the best readout is chosen on validation",
        );
      }
      // Each layer's (or the network's) epochs add up to the training time, which counts the
      // epochs alone, and that is within the whole command's time.
      assertEquals(metrics.seconds_per_epoch_by_layer.length, layers);
      const epochs = metrics.config.epochs;
      const seconds = metrics.seconds_per_epoch_by_layer.map((s: number) => s * epochs);
      assert(seconds.every((s: number) => s > 0), `${seconds}`);
      const total = seconds.reduce((a: number, b: number) => a + b);
      assert(
        Math.abs(total - metrics.train_seconds) < 1e-6,
        `${seconds}: ${metrics.train_seconds}`,
      );
      assert(
        metrics.train_seconds < metrics.seconds,
        `${metrics.train_seconds}, ${metrics.seconds}`,
      );
      // Where the process's time went, stage by stage: each measured, and together the process
      // as seen from here, but for Deno's launch and exit.
      const stages = metrics.stages as Record<string, number>;
      assertEquals(Object.keys(stages), [
        "startup",
        "data",
        "training",
        "checkpoints",
        "scoring",
        "files",
      ]);
      assert(Object.values(stages).every((s) => s > 0), JSON.stringify(stages));
      const sum = Object.values(stages).reduce((a, b) => a + b);
      assert(sum < whole && sum > 0.5 * whole, `${sum} of ${whole}`);
      assert(stages.training >= metrics.train_seconds, JSON.stringify(metrics));
      assertMatch(
        run.out,
        /\ntime: start-up and backend \d+\.\d s, data \d+\.\d s, training \d+\.\d s, checkpoints \d+\.\d s, scoring \d+\.\d s, files \d+\.\d s \(\d+\.\d s in all\)\n/,
      );
      assertStringIncludes(await Deno.readTextFile(`${out}/report.html`), "Plotly.newPlot");

      // The saved weights load and predict, and say what made them.
      const header = await readWeightsHeader(`${out}/weights.ffw`);
      assertEquals([header.dtype, header.recipe?.name, header.dataset], ["float32", name, "mnist"]);
      assertEquals(header.commit ?? null, metrics.commit);
      const net = await loadNetwork(`${out}/weights.ffw`);
      const mnist = await loadMnist(mnistDir!, { pixels: metrics.config.pixels });
      const test = pick(mnist.test, Int32Array.from({ length: 2000 }, (_, i) => i));
      const predicted = net.predict(test.x, { readout: metrics.readout });
      assertEquals(predicted.shape, [2000]);
      tf.dispose([predicted, test.x]);
      net.dispose();

      const before = await Deno.readTextFile(`${out}/metrics.json`);
      // Even told to replace them, a run that cannot train leaves the results whole.
      const bad = await train(
        ...["--data", mnistDir!, "--train-size", "99999", "--out", out, "--overwrite", ...args],
      );
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.err, "--train-size 99999 is more than the 50000 training images");
      assertEquals(await Deno.readTextFile(`${out}/metrics.json`), before);
      assertEquals((await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(), [
        "metrics.json",
        "report.html",
        "weights.ffw",
      ]);
      await Deno.remove(out, { recursive: true });
    },
  });
}

/** A tiny run: a few seconds. */
const TINY = ["--layers", "10", "--train-size", "100", "--epochs", "1", "--seed", "2"];
const names = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();

Deno.test({
  name: "a folder with another run's results is refused; --overwrite replaces them all at once",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    const out = await Deno.makeTempDir();
    const old = { "metrics.json": '{"test_error": 0.07}', "weights.json": "old weights" };
    for (const [name, text] of Object.entries(old)) {
      await Deno.writeTextFile(`${out}/${name}`, text);
    }
    await Deno.writeTextFile(`${out}/notes.txt`, "the user's own");
    const refused = await train("--data", mnistDir!, ...TINY, "--out", out);
    assertEquals(refused.code, 1, refused.err);
    assertEquals(
      refused.err,
      `train: --out ${out} holds the results of another run (metrics.json, weights.json): ` +
        "choose another --out, or give --overwrite to replace them\n",
    );
    assert(!refused.out.includes("epoch"), "refused before training");
    for (const [name, text] of Object.entries(old)) {
      assertEquals(await Deno.readTextFile(`${out}/${name}`), text);
    }
    const run = await train("--data", mnistDir!, ...TINY, "--out", out, "--overwrite");
    assertEquals(run.code, 0, run.err);
    assertEquals(JSON.parse(await Deno.readTextFile(`${out}/metrics.json`)).config.trainSize, 100);
    // The old run's weights (JSON, as runs wrote them before the binary file) go with it.
    await loadNetwork(`${out}/weights.ffw`).then((net) => net.dispose());
    // Files the run does not write are the user's: left alone.
    assertEquals(await Deno.readTextFile(`${out}/notes.txt`), "the user's own");
    assertEquals(await names(out), ["metrics.json", "notes.txt", "report.html", "weights.ffw"]);
    // An unfinished run's checkpoint, told to go, stays while the new run cannot train.
    await Deno.remove(`${out}/metrics.json`);
    await Deno.writeTextFile(`${out}/checkpoint.json`, "{}");
    const bad = await train(
      "--data",
      mnistDir!,
      ...TINY,
      "--train-size",
      "99999",
      "--out",
      out,
      "--overwrite",
    );
    assertEquals(bad.code, 1, bad.err);
    assertStringIncludes(bad.err, "--train-size 99999 is more than the 50000 training images");
    assertEquals(await Deno.readTextFile(`${out}/checkpoint.json`), "{}");
    assertEquals(await names(out), ["checkpoint.json", "notes.txt", "report.html", "weights.ffw"]);
    // A folder the run made, for a run that could not train, is not left behind empty.
    const fresh = await train(
      "--data",
      mnistDir!,
      ...TINY,
      "--train-size",
      "99999",
      "--out",
      `${out}/new`,
    );
    assertEquals(fresh.code, 1, fresh.err);
    assertEquals(await names(out), ["checkpoint.json", "notes.txt", "report.html", "weights.ffw"]);
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "default run folders never collide: a name taken, or two runs in the same second",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    const cwd = await Deno.makeTempDir();
    // Every name the next seconds could give is taken already, by a finished run.
    const stamp = (ms: number) =>
      new Date(ms).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
    const taken = Array.from({ length: 30 }, (_, s) => `runs/${stamp(Date.now() + s * 1000)}`);
    for (const dir of taken) {
      await Deno.mkdir(`${cwd}/${dir}`, { recursive: true });
      await Deno.writeTextFile(`${cwd}/${dir}/metrics.json`, "{}");
    }
    const runs = await Promise.all([0, 1].map(() => trainIn(cwd, "--data", mnistDir!, ...TINY)));
    const folders = runs.map(({ code, out, err }) => {
      assertEquals(code, 0, err);
      return out.match(/^run folder: (\S+)$/m)![1];
    });
    assert(folders[0] !== folders[1], `${folders}`);
    for (const folder of folders) {
      assert(taken.some((dir) => folder.startsWith(`${dir}-`)), `${folder}: a suffixed name`);
      assertEquals(await names(`${cwd}/${folder}`), [
        "metrics.json",
        "report.html",
        "weights.ffw",
      ]);
    }
    for (const dir of taken) {
      assertEquals(await Deno.readTextFile(`${cwd}/${dir}/metrics.json`), "{}");
    }
    await Deno.remove(cwd, { recursive: true });
  },
});

/** Mounts a tmpfs with `options` on a new temporary folder; undefined where mount is not allowed. */
async function tmpfs(options: string): Promise<string | undefined> {
  const dir = await Deno.makeTempDir();
  const { success } = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", options, "tmpfs", dir],
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!success) await Deno.remove(dir);
  return success ? dir : undefined;
}

async function unmount(dir: string) {
  await new Deno.Command("umount", { args: [dir] }).output();
  await Deno.remove(dir, { recursive: true });
}

// Root writes through chmod, so read-only and full folders are filesystems of their own.
const canMount = await tmpfs("ro,size=64k").then(async (dir) => dir && (await unmount(dir), true));

Deno.test({
  name: "an --out that cannot be written is refused before training, in one line",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    // A folder under a regular file cannot be made, whoever asks (the name holds option words).
    const file = await Deno.makeTempFile();
    const under = `${file}/my epochs`;
    const cases: [string, string][] = [
      [under, `train: --out ${under} cannot be made: Not a directory`],
    ];
    const ro = canMount ? await tmpfs("ro,size=64k") : undefined;
    const full = canMount ? await tmpfs("size=64k") : undefined;
    if (ro) cases.push([ro, `train: --out ${ro} is not writable: Read-only file system`]);
    if (full) {
      await Deno.writeFile(`${full}/filler`, new Uint8Array(64 * 1024)).catch(() => {});
      cases.push([full, `train: --out ${full} is not writable: No space left on device`]);
    }
    try {
      for (const [out, expected] of cases) {
        const run = await train("--data", mnistDir!, ...TINY, "--epochs", "50", "--out", out);
        assertEquals(run.code, 1, run.err);
        assertStringIncludes(run.err, expected);
        assertStringIncludes(run.err, ": choose a writable folder\n");
        assertEquals(run.err.trim().split("\n").length, 1, run.err);
        assertEquals(run.out, "", "nothing loaded, nothing trained");
      }
      if (full) assertEquals(await names(full), ["filler"]);
    } finally {
      for (const dir of [ro, full]) if (dir) await unmount(dir);
      await Deno.remove(file);
    }
    if (!canMount) console.error("ignored: read-only and full tmpfs (mount is not allowed here)");
  },
});

const webgpu = await webgpuMissing();

Deno.test({
  name: "--backend webgpu: a small run end to end, with the errors blas gets for the same run",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist") ||
    ignoreUnless(webgpu === undefined, `webgpu (${webgpu})`),
  async fn() {
    const errors: Record<string, unknown>[] = [];
    for (const backend of ["webgpu", "blas"]) {
      const out = await Deno.makeTempDir();
      const args = ["--train-size", "300", "--epochs", "2", "--layers", "50,50", "--seed", "5"];
      const run = await train("--data", mnistDir!, "--backend", backend, "--out", out, ...args);
      assertEquals(run.code, 0, run.err);
      assertStringIncludes(run.out, `backend: ${backend};`);
      const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      assertEquals(metrics.backend, backend);
      errors.push(metrics.errors);
      await Deno.remove(out, { recursive: true });
    }
    // float32 on a GPU sums in another order: a prediction or two may differ, no more.
    for (const [readout, splits] of Object.entries(errors[1])) {
      for (const [split, error] of Object.entries(splits as Record<string, number>)) {
        const onWebgpu = (errors[0][readout] as Record<string, number>)[split];
        assert(Math.abs(onWebgpu - error) <= 0.005, `${readout} ${split}: ${onWebgpu} vs ${error}`);
      }
    }
  },
});
