// `deno task train` end to end on a small slice of real MNIST, and its handling of bad input.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { FFNN, loadMnist, pick, setBackend, tf } from "../lib/mod.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");
const cli = new URL("../cli/train.ts", import.meta.url).pathname;

async function train(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    env: { FF_BACKEND: "auto" },
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test("bad flags stop with one line that says what to change", async () => {
  for (
    const [args, expected] of [
      [["--epochs", "ten"], '--epochs must be an integer >= 1, got "ten"'],
      [["--bogus"], "--bogus"],
      [["--label", "sideways"], "--label must be one of concat, overlay"],
      [["--backend", "tpu"], "--backend must be one of"],
      [["--lr", "fast"], "--lr must be a number"],
    ] as [string[], string][]
  ) {
    const { code, err } = await train(...args);
    assertEquals(code, 1, `exit code for ${args.join(" ")}`);
    assertStringIncludes(err, expected);
    assertEquals(err.trim().split("\n").length, 1, `one line: ${err}`);
  }
});

Deno.test({
  name:
    "a small run writes metrics, loadable weights and a report; bad input later damages nothing",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    const out = await Deno.makeTempDir();
    const run = await train(
      "--data",
      mnistDir!,
      "--train-size",
      "300",
      "--epochs",
      "3",
      "--seed",
      "5",
      "--out",
      out,
    );
    assertEquals(run.code, 0, run.err);
    assertMatch(run.out, /Training error: 0\.\d{4}/);
    assertMatch(run.out, /Test error: 0\.\d{4}/);
    const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assertEquals(metrics.config.dims, [794, 500, 500]);
    assertEquals(metrics.losses.map((l: number[]) => l.length), [3, 3]);
    assertEquals(metrics.backend, await setBackend("auto"));
    assert(metrics.test_error > 0 && metrics.test_error < 1);
    // Each layer's epochs add up to no more than the whole training time.
    assertEquals(metrics.seconds_per_epoch_by_layer.length, 2);
    const layerSeconds = metrics.seconds_per_epoch_by_layer.map((s: number) => s * 3);
    assert(layerSeconds.every((s: number) => s > 0), `${layerSeconds}`);
    assert(layerSeconds[0] + layerSeconds[1] <= metrics.train_seconds, `${layerSeconds}`);
    const report = await Deno.readTextFile(`${out}/report.html`);
    assertStringIncludes(report, "Plotly.newPlot");

    // The saved weights load and predict.
    const net = await FFNN.load(`${out}/weights.json`);
    const mnist = await loadMnist(mnistDir!);
    const test = pick(mnist.test, Int32Array.from({ length: 2000 }, (_, i) => i));
    const predicted = net.predict(test.x);
    assertEquals(predicted.shape, [2000]);
    tf.dispose([predicted, test.x]);
    net.dispose();

    const before = await Deno.readTextFile(`${out}/metrics.json`);
    const bad = await train("--data", mnistDir!, "--dims", "10,5", "--out", out);
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.err, "use --dims 794,5");
    assertEquals(await Deno.readTextFile(`${out}/metrics.json`), before);
    assertEquals((await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(), [
      "metrics.json",
      "report.html",
      "weights.json",
    ]);
    await Deno.remove(out, { recursive: true });
  },
});
