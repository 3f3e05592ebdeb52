// `deno task train` end to end on a small slice of real MNIST, and its handling of bad input.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { loadMnist, loadNetwork, pick, setBackend, tf } from "../lib/mod.ts";
import { blasLibrary } from "../lib/backends/mod.ts";
import { ignoreUnless, sharedPath, webgpuMissing } from "./shared.ts";
import { inFlagTerms } from "../cli/train.ts";

const mnistDir = sharedPath("data/mnist");
const cli = new URL("../cli/train.ts", import.meta.url).pathname;

async function train(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    env: { FF_BACKEND: "auto" },
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
        `--resume ${unfinished}, or choose another --out`,
      ],
      [["--checkpoint-every", "soon"], "--checkpoint-every must be a number of minutes >= 0"],
    ] as [string[], string][]
  ) {
    const { code, err } = await train(...args);
    assertEquals(code, 1, `exit code for ${args.join(" ")}: ${err}`);
    assertStringIncludes(err, expected);
    assertEquals(err.trim().split("\n").length, 1, `one line: ${err}`);
  }
  for (const dir of [empty, finished, unfinished]) await Deno.remove(dir, { recursive: true });
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
});

for (
  const [name, args, layers] of [
    ["post", ["--recipe", "post", "--epochs", "3"], 2],
    ["fast", ["--epochs", "2", "--layers", "50,50"], 1],
  ] as const
) {
  Deno.test({
    name:
      `recipe ${name}: a small run writes metrics, loadable weights and a report; bad input later damages nothing`,
    ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
    async fn() {
      const out = await Deno.makeTempDir();
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
      assertEquals(run.code, 0, run.err);
      assertMatch(run.out, /Test error: 0\.\d{4} \(readout [a-z-]+, the best on validation\)/);
      assertMatch(run.out, /goodness +training 0\.\d{4} +validation 0\.\d{4} +test 0\.\d{4}/);
      const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      assertEquals(metrics.recipe, name);
      assertEquals(metrics.config.trainSize, 300);
      assertEquals(metrics.config.seed, 5);
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
      assertStringIncludes(await Deno.readTextFile(`${out}/report.html`), "Plotly.newPlot");

      // The saved weights load and predict.
      const net = await loadNetwork(`${out}/weights.json`);
      const mnist = await loadMnist(mnistDir!, { pixels: metrics.config.pixels });
      const test = pick(mnist.test, Int32Array.from({ length: 2000 }, (_, i) => i));
      const predicted = net.predict(test.x, { readout: metrics.readout });
      assertEquals(predicted.shape, [2000]);
      tf.dispose([predicted, test.x]);
      net.dispose();

      const before = await Deno.readTextFile(`${out}/metrics.json`);
      const bad = await train("--data", mnistDir!, "--train-size", "99999", "--out", out, ...args);
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.err, "--train-size 99999 is more than the 50000 training images");
      assertEquals(await Deno.readTextFile(`${out}/metrics.json`), before);
      assertEquals((await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(), [
        "metrics.json",
        "report.html",
        "weights.json",
      ]);
      await Deno.remove(out, { recursive: true });
    },
  });
}

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
