/**
 * `deno task bench:compare`: our training beside the PyTorch reference on the same machine, one
 * after the other, at the same sizes: seconds per epoch, their ratio, training and wall seconds
 * (wall: the whole command, loading and scoring included), peak memory, errors.
 *
 *   deno task bench:compare [--recipe post|hinton] [--epochs N] [--sizes 10000,50000]
 *                           [--runs 20000x4,50000x5] [--figure docs/compare_hinton.html]
 *                           [--backend blas] [--reference-malloc kept|system]
 *                           [--dataset mnist|fashion-mnist]
 *
 * `--runs SIZExEPOCHS,...` gives each run its own epochs (for `hinton` the default is the
 * issue's small and full runs, 20000x4 and 50000x5). For each side it prints whole-process wall
 * time, training time and peak memory (the process's peak RSS: VmHWM for ours, ru_maxrss for the
 * port), and with `--figure` it writes the test error (the readout validation picks, on both
 * sides) against whole-process wall seconds, both sides, as a self-contained html page.
 *
 * `--recipe post` (the default) runs ../shared/reference/blog_reference.py (the post's code),
 * timing each of its layers from outside; `--recipe hinton` runs ffcode_reference.py (a port of
 * Hinton's Matlab code), whose own output has its training seconds and peak memory.
 *
 * `--reference-malloc kept` (the default) runs the reference with glibc's malloc told to keep the
 * memory it frees (GLIBC_TUNABLES: no mmap, no trimming). Why: PyTorch makes its large
 * activations afresh every epoch, and by default glibc hands such blocks back to the kernel on
 * free, so every epoch pays a page fault per 4 KiB to touch them again; on virtual machines where
 * that is slow (here ~14 µs a page) it makes the reference several times slower, which would
 * flatter us. `system` runs it as installed.
 *
 * Needs /usr/bin/python3 with torch (Debian: apt-get install python3-torch) and the reference
 * scripts beside the repository; says so and stops when either is missing.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { describeStages } from "../cli/train.ts";
import { Plot, writeReport } from "../lib/plot/mod.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    recipe: { type: "string", default: "post" },
    epochs: { type: "string" },
    sizes: { type: "string", default: "10000,50000" },
    runs: { type: "string" },
    figure: { type: "string" },
    backend: { type: "string", default: "blas" },
    "reference-malloc": { type: "string", default: "kept" },
    dataset: { type: "string", default: "mnist" },
  },
}).values;
const recipe = flags.recipe;
if (recipe !== "post" && recipe !== "hinton") {
  console.error(`--recipe must be post or hinton, got ${recipe}`);
  Deno.exit(1);
}
const runs = (flags.runs ?? (recipe === "hinton" && !flags.epochs ? "20000x4,50000x5" : ""))
  .split(",").filter((run) => run !== "").map((run) => run.split("x").map(Number));
const epochsOf = new Map(runs.map(([size, epochs]) => [size, epochs]));
const defaultEpochs = Number(flags.epochs ?? (recipe === "post" ? 20 : 2));
const sizes = runs.length ? runs.map(([size]) => size) : flags.sizes.split(",").map(Number);
if (sizes.some((n) => !(n > 0)) || [...epochsOf.values()].some((n) => !(n > 0))) {
  console.error(`--runs must be SIZExEPOCHS,..., e.g. 20000x4,50000x5; --sizes a list of sizes`);
  Deno.exit(1);
}
const root = new URL("..", import.meta.url).pathname;
const referenceDir = new URL("../../shared/reference/", import.meta.url).pathname;
const reference = `${referenceDir}${
  recipe === "post" ? "blog_reference.py" : "ffcode_reference.py"
}`;
// Both sides read the same four IDX files: the local MNIST mirror or Debian's Fashion-MNIST.
const dataDirs: Record<string, string> = {
  mnist: new URL("../../shared/data/mnist", import.meta.url).pathname,
  "fashion-mnist": "/usr/share/datasets/fashion-mnist",
};
const mnist = dataDirs[flags.dataset];
if (mnist === undefined) {
  console.error(`--dataset must be mnist or fashion-mnist, got ${flags.dataset}`);
  Deno.exit(1);
}
const python = "/usr/bin/python3";
const mallocEnv: Record<string, Record<string, string>> = {
  kept: { GLIBC_TUNABLES: "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776" },
  system: {},
};
const referenceMalloc = flags["reference-malloc"];
const referenceEnv = mallocEnv[referenceMalloc];
if (referenceEnv === undefined) {
  console.error(`--reference-malloc must be kept or system, got ${referenceMalloc}`);
  Deno.exit(1);
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(command, { args, env, cwd: root })
    .output();
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${err.slice(-500)}`);
  return { out: new TextDecoder().decode(stdout), err };
}

try {
  await Deno.stat(reference);
  await run(python, ["-c", "import torch"]);
} catch (e) {
  console.error(
    `bench:compare needs torch and ${reference}: ${(e as Error).message.slice(0, 200)}`,
  );
  Deno.exit(1);
}

// The post's reference as it is, with two measurements added from outside: each layer's
// Layer.train wall time (perf_counter), and peak resident memory (ru_maxrss, KiB on Linux).
const timedPost = `
import json, resource, runpy, sys, time
sys.argv = sys.argv[1:]
reference = runpy.run_path(sys.argv[0], run_name="reference")
Layer, train, seconds = reference["Layer"], reference["Layer"].train, []
def timed(self, *args):
    start = time.perf_counter()
    result = train(self, *args)
    seconds.append(time.perf_counter() - start)
    return result
Layer.train = timed
reference["main"]()
print("layers", json.dumps(seconds), file=sys.stderr)
print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
`;

interface Side {
  perEpoch: number[];
  trainSeconds: number;
  wall: number;
  peak: number;
  errors: string;
  /** The test error of the readout with the lowest validation error (hinton only). */
  testError?: number;
}

/** Our side: `deno task train` as a real process, read back from metrics.json. */
async function ours(size: number, epochs: number): Promise<Side> {
  const out = await Deno.makeTempDir();
  const started = performance.now();
  await run(Deno.execPath(), [
    ..."run -A cli/train.ts --recipe".split(" "),
    recipe,
    ...["--dataset", flags.dataset],
    ...["--data", mnist, "--train-size", String(size), "--epochs", String(epochs)],
    ...["--backend", flags.backend, "--out", out],
  ]);
  const wall = (performance.now() - started) / 1000;
  const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
  await Deno.remove(out, { recursive: true });
  const errors = Object.entries(metrics.errors as Record<string, { train: number; test: number }>)
    .map(([readout, e]) => `${readout} ${e.test.toFixed(4)}`).join(", ");
  return {
    perEpoch: metrics.seconds_per_epoch_by_layer,
    trainSeconds: metrics.train_seconds,
    wall,
    peak: metrics.peak_memory_mib,
    errors: `test: ${errors}; ${describeStages(metrics.stages)}`,
    testError: metrics.test_error,
  };
}

/** The reference's side, run with Debian's torch on two threads. */
async function theirs(size: number, epochs: number): Promise<Side> {
  const started = performance.now();
  const env = { OMP_NUM_THREADS: "2", ...referenceEnv };
  if (recipe === "post") {
    const { out, err } = await run(python, [
      "-c",
      timedPost,
      reference,
      mnist,
      String(size),
      String(epochs),
    ], env);
    const result = JSON.parse(out);
    const layers = JSON.parse(err.match(/layers (.*)/)?.[1] ?? "[]") as number[];
    return {
      perEpoch: layers.map((s) => s / epochs),
      trainSeconds: result.train_seconds,
      wall: (performance.now() - started) / 1000,
      peak: Number(err.match(/peak (\d+)/)?.[1]) / 1024,
      errors: `training ${result.train_error.toFixed(4)}, test ${result.test_error.toFixed(4)}`,
    };
  }
  const { out } = await run(python, [
    reference,
    mnist,
    String(epochs),
    ...["--train-size", String(size), "--log-every", String(epochs)],
  ], env);
  const final = JSON.parse(out.trim().split("\n").at(-1)!);
  return {
    perEpoch: [final.s_per_epoch],
    trainSeconds: final.train_seconds,
    wall: (performance.now() - started) / 1000,
    peak: final.peak_rss_mib,
    errors: `test: energy ${(final.test_error_energy / 100).toFixed(4)}, softmax ${
      (final.test_error_softmax / 100).toFixed(4)
    }; evaluation ${final.eval_seconds} s`,
    // As ours: the readout validation prefers (on a tie, the first).
    testError:
      (final.val_error_softmax < final.val_error_energy
        ? final.test_error_softmax
        : final.test_error_energy) / 100,
  };
}

const each = (values: number[]) => values.map((s) => s.toFixed(3)).join(" / ");
console.log(
  `recipe ${recipe} on ${flags.dataset}, ${
    runs.length ? "epochs by run" : `${defaultEpochs} epochs`
  }; PyTorch reference with malloc ${referenceMalloc}`,
);
const points: { side: string; size: number; epochs: number; wall: number; test: number }[] = [];
console.log(
  "| images | epochs | ours s/epoch | PyTorch s/epoch | ours / PyTorch | ours training s | PyTorch training s | ours wall s | PyTorch wall s | ours peak MiB | PyTorch peak MiB | ours errors | PyTorch errors |",
);
console.log(`|${"---|".repeat(13)}`);
for (const size of sizes) {
  const epochs = epochsOf.get(size) ?? defaultEpochs;
  const [a, b] = [await ours(size, epochs), await theirs(size, epochs)];
  for (const [side, run] of [["ours", a], ["PyTorch port", b]] as const) {
    if (run.testError !== undefined) {
      points.push({ side, size, epochs, wall: run.wall, test: run.testError });
    }
  }
  const ratios = a.perEpoch.map((s, i) => s / b.perEpoch[i]);
  console.log(
    `| ${size} | ${epochs} | ${each(a.perEpoch)} | ${each(b.perEpoch)} | ${
      ratios.map((r) => r.toFixed(2)).join(" / ")
    } | ` +
      `${a.trainSeconds.toFixed(0)} | ${b.trainSeconds.toFixed(0)} | ${a.wall.toFixed(0)} | ${
        b.wall.toFixed(0)
      } | ` +
      `${a.peak.toFixed(0)} | ${b.peak.toFixed(0)} | ${a.errors} | ${b.errors} |`,
  );
}

if (flags.figure) {
  const trace = (side: string) => {
    const mine = points.filter((p) => p.side === side);
    return {
      type: "scatter",
      mode: "lines+markers+text",
      name: side,
      x: mine.map((p) => p.wall),
      y: mine.map((p) => p.test),
      text: mine.map((p) => `${p.size} × ${p.epochs}`),
      textposition: "top center",
    };
  };
  const figure = new Plot({
    data: [trace("ours"), trace("PyTorch port")],
    layout: {
      title: { text: `Test error against whole-process wall time, ${recipe} on ${flags.dataset}` },
      xaxis: { title: { text: "wall seconds (the whole command)" }, rangemode: "tozero" },
      yaxis: { title: { text: "test error (the readout validation picks)" } },
    },
  });
  await writeReport(flags.figure, {
    title: `bench:compare --recipe ${recipe}`,
    summary: {
      date: new Date().toISOString(),
      command: `deno task bench:compare ${Deno.args.join(" ")}`,
      points: JSON.stringify(points),
    },
    figures: [figure],
  });
  console.log(`wrote ${flags.figure}`);
}
