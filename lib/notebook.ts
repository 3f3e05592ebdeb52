/**
 * A notebook's plumbing, in one place: {@linkcode setup} (backend, plotly.js, data, run size, in
 * one call and one line of output), and the committed full-size runs ({@linkcode fullRun}) that
 * notebooks draw their full-size figures from.
 *
 * How much training a notebook does is chosen by the environment, so that the same notebook
 * serves as a seconds-long test, a minutes-long read, and the post's full recipe:
 *
 * - `FF_QUICK=1`: tiny runs, seconds each, for tests;
 * - neither: the default, a few minutes per notebook on a 2-core CPU;
 * - `FF_FULL=1`: the post's recipe, 50,000 images and 1000 epochs per layer (about 30 minutes
 *   for the post's network on a 2-core CPU with OpenBLAS).
 *
 * A notebook says its run size once, in the line {@linkcode setup} shows.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { runExperiment, setup, trainingPlot } from "./mod.ts";
 * const { size, data } = await setup(); // one line: data, backend, run size
 * const r = size.recipe("fast", { trainSize: 2000, epochs: 1 }); // Hinton's recipe, shortened
 * const result = await runExperiment(data, r, {
 *   validationSize: 1000,
 *   onEpoch: trainingPlot(), // a live loss plot in Jupyter, progress lines elsewhere
 * });
 * await size.report(`test error ${result.testError.toFixed(4)}`); // e.g. "test error 0.1270"
 * assert(result.testError < 0.3);
 * result.net.dispose();
 * ```
 *
 * @module
 */
import { relative } from "node:path";
import { setBackend } from "./backends/mod.ts";
import {
  type DatasetName,
  DATASETS,
  loadDataset,
  loadMnistOrSubset,
  type Mnist,
} from "./data/mod.ts";
import { readEnv, readFlag } from "./env.ts";
import { type Errors, type Recipe, recipe } from "./experiment.ts";
import { show } from "./jupyter.ts";
import { loadPlotly } from "./plot/plot.ts";

/** The three run sizes. */
export type RunSizeName = "quick" | "default" | "full";

/** One run size: how many images, epochs and test images every notebook uses. */
export interface RunSize {
  name: RunSizeName;
  /** Training images, drawn (seeded) from MNIST's training split. */
  trainSize: number;
  /** Full-batch epochs per layer (the post: 1000). */
  epochs: number;
  /** Test images scored (MNIST has 10,000); fewer only in quick runs. */
  testSize: number;
  /** Notebook 05's mini-batch variant, which the post does not have. */
  miniBatch: {
    /** Training images, like `trainSize`; absent: all of them (50,000 of MNIST's). */
    trainSize?: number;
    /** Images per Adam step. */
    batchSize: number;
    /** Passes over the training images. */
    epochs: number;
  };
  /** Where MNIST is read from: env `FF_MNIST_DIR`, else `data/mnist` beside `lib/`. */
  mnistDir: string;
  /** Notebook 06's mini-batch rows, Hinton's recipe and the steps towards it. */
  paper: {
    /** Training images; absent: all of them (50,000 of MNIST's). */
    trainSize?: number;
    /** Passes over the training images. */
    epochs: number;
    /**
     * Quick runs only: the widest hidden layer. Hinton's 1000-wide layers cost minutes even at
     * 300 images on a software GPU (lavapipe), where CI runs the notebooks a second time.
     */
    width?: number;
  };
  /**
   * One line saying which run size this is and what it trains ({@linkcode setup} shows it once):
   * full-batch sizes, both mini-batch sizes where they differ, test images.
   */
  describe(): string;
  /**
   * A recipe at this run size: full-batch recipes get `trainSize` and `epochs`, mini-batch ones
   * `paper.trainSize` and `paper.epochs`.
   */
  fit(r: Recipe): Recipe;
  /** A named recipe at this run size ({@linkcode RunSize.fit}); `overrides` win over both. */
  recipe(name: string, overrides?: Partial<Recipe>): Recipe;
  /**
   * Shows `lines`: inside Jupyter as one output that the cell awaits, elsewhere on stdout.
   * Notebooks report through this (or `show`) rather than `console.log`, whose last lines in a
   * cell the Deno kernel may send too late to be kept. The run size is said once, by
   * {@linkcode setup}, not after every result.
   */
  report(...lines: string[]): Promise<void>;
}

type Sizes = Omit<RunSize, "name" | "mnistDir" | "describe" | "report" | "recipe" | "fit">;

const SIZES: Record<RunSizeName, Sizes> = {
  quick: {
    trainSize: 500,
    epochs: 10,
    testSize: 500,
    miniBatch: { trainSize: 500, batchSize: 250, epochs: 2 },
    paper: { trainSize: 300, epochs: 2, width: 100 },
  },
  default: {
    trainSize: 5000,
    epochs: 400,
    testSize: 10_000,
    // trainSize named, undefined: spread over a full-batch recipe's 5,000, it must say "all".
    miniBatch: { trainSize: undefined, batchSize: 100, epochs: 15 },
    paper: { trainSize: 10_000, epochs: 6 },
  },
  full: {
    trainSize: 50_000,
    epochs: 1000,
    testSize: 10_000,
    miniBatch: { trainSize: undefined, batchSize: 100, epochs: 60 },
    paper: { epochs: 60 },
  },
};

const HINTS: Record<RunSizeName, string> = {
  quick: "FF_QUICK=1: a smoke test, not a result",
  default: "FF_FULL=1 runs the recipes at full size",
  full: "FF_FULL=1: the recipes at full size",
};

function count(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * A path next to lib/, relative to the working directory where it can be: it is printed beside
 * results, and "../data/mnist" says more than one machine's absolute path.
 */
function besideLib(path: string): string {
  const absolute = new URL(path, import.meta.url).pathname;
  try {
    return relative(Deno.cwd(), absolute) || ".";
  } catch {
    return absolute; // no read permission for the working directory
  }
}

/**
 * The run size the environment asks for.
 *
 * @param env where variables are read; default `Deno.env.get`
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runSize } from "./notebook.ts";
 * const quick = runSize((name) => name === "FF_QUICK" ? "1" : undefined);
 * assertEquals([quick.name, quick.trainSize, quick.epochs], ["quick", 500, 10]);
 * ```
 */
export function runSize(
  env: (name: "FF_QUICK" | "FF_FULL" | "FF_MNIST_DIR") => string | undefined = readEnv,
): RunSize {
  const quick = readFlag("FF_QUICK", env("FF_QUICK"));
  const full = readFlag("FF_FULL", env("FF_FULL"));
  if (quick && full) {
    throw new Error("FF_QUICK=1 and FF_FULL=1 are both set: set only one of them");
  }
  const name: RunSizeName = quick ? "quick" : full ? "full" : "default";
  const sizes = SIZES[name];
  const mnistDir = env("FF_MNIST_DIR") || besideLib("../data/mnist");
  const fit = (r: Recipe): Recipe => {
    if (r.batchSize === undefined) {
      return { ...r, trainSize: sizes.trainSize, epochs: sizes.epochs };
    }
    const { trainSize, epochs, width = Infinity } = sizes.paper;
    return { ...r, trainSize, epochs, layers: r.layers.map((w) => Math.min(w, width)) };
  };
  // Both mini-batch sizes, where they differ: the line is shown once per notebook, and notebook
  // 05's variant (miniBatch) is not notebook 06's recipes (paper).
  const miniBatches = [
    ...new Set(
      [sizes.paper, sizes.miniBatch].map(({ trainSize, epochs }) =>
        `${count(trainSize ?? 50_000)} × ${epochs} epochs`
      ),
    ),
  ].join(" or ");
  const describe = () =>
    `run size "${name}" (${HINTS[name]}): ${count(sizes.trainSize)} training images × ` +
    `${sizes.epochs} epochs per layer (full batch), ${miniBatches} (mini-batches${
      sizes.paper.width ? `, layers of at most ${sizes.paper.width}` : ""
    }), ${count(sizes.testSize)} test images`;
  return {
    name,
    ...sizes,
    miniBatch: { ...sizes.miniBatch },
    paper: { ...sizes.paper },
    mnistDir,
    describe,
    fit,
    recipe: (name, overrides = {}) => ({ ...fit(recipe(name)), ...overrides }),
    report: (...lines) => show(lines.join("\n")),
  };
}

/**
 * MNIST with its test split cut to the first `count` images (all of them if it has fewer),
 * so that quick runs spend seconds, not minutes, scoring.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadMnistOrSubset } from "./data/mod.ts";
 * import { trimTestSplit } from "./notebook.ts";
 * const small = trimTestSplit(await loadMnistOrSubset("data/mnist"), 1000);
 * assertEquals(small.test.count, 1000);
 * ```
 */
export function trimTestSplit(mnist: Mnist, count: number): Mnist {
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`the test split size must be a positive integer, got ${count}`);
  }
  const { test } = mnist;
  if (count >= test.count) return mnist;
  const pixels = test.images.length / test.count;
  return {
    ...mnist,
    test: {
      images: test.images.subarray(0, count * pixels),
      labels: test.labels.subarray(0, count),
      count,
    },
  };
}

/** Options of {@linkcode setup}. */
export interface SetupOptions {
  /** `"mnist"` (default) or `"fashion-mnist"`. */
  dataset?: DatasetName;
  /**
   * The dataset's folder; default the run size's `mnistDir` (env `FF_MNIST_DIR`, else
   * data/mnist beside lib/) for MNIST, Debian's folder for Fashion-MNIST.
   */
  dataDir?: string;
  /** A backend name for `setBackend`; default env `FF_BACKEND`, else the fastest here. */
  backend?: string;
}

/** What {@linkcode setup} hands a notebook. */
export interface Setup {
  /** The run size the environment asks for ({@linkcode runSize}). */
  size: RunSize;
  /** The dataset, its test split trimmed to `size.testSize`. */
  data: Mnist;
  /** The backend in use. */
  backend: string;
}

/**
 * A notebook's first lines in one call: puts plotly.js on the page (in Jupyter), sets the
 * backend, reads the run size, loads the dataset (its test split trimmed to the run size's) and
 * shows one line saying which data, backend and run size the notebook's numbers come from.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { setup } from "./notebook.ts";
 * const { size, data, backend } = await setup();
 * // shows e.g.: data: MNIST (data/mnist) · backend: blas · run size "default" (...): 5,000 training images × 400 epochs ...
 * assertEquals(data.test.count, Math.min(size.testSize, 10_000));
 * console.log(backend); // "blas" where OpenBLAS is installed, else "wasm"
 * ```
 */
export async function setup(options: SetupOptions = {}): Promise<Setup> {
  const { dataset = "mnist" } = options;
  if (!(dataset in DATASETS)) {
    throw new Error(
      `setup's dataset "${dataset}" is unknown: use one of ${Object.keys(DATASETS).join(", ")}`,
    );
  }
  await loadPlotly();
  const backend = await setBackend(options.backend);
  const size = runSize();
  const loaded = dataset === "mnist"
    ? await loadMnistOrSubset(options.dataDir ?? size.mnistDir)
    : await loadDataset(dataset, options.dataDir);
  const data = trimTestSplit(loaded, size.testSize);
  await show(`data: ${data.source} · backend: ${backend} · ${size.describe()}`);
  return { size, data, backend };
}

/** The full-size runs the notebooks draw on, in the order they are told. */
export const FULL_RUNS: readonly string[] = [
  "post",
  "fast",
  "hinton",
  "hinton-shift",
  "hinton-4x2000",
  "unsupervised-quick",
  "unsupervised-local",
];

/** Where committed full-size runs are: notebooks/runs beside lib/. */
const RUNS_DIR = new URL("../notebooks/runs", import.meta.url).pathname;

/**
 * A run's metrics.json as `deno task train` writes it (cli/train.ts); fields this module does
 * not need are kept as they are.
 */
export interface RunMetrics {
  /** The command that made it, e.g. "deno task train --recipe post --out runs/post". */
  command: string;
  /** The commit it ran at (40 hex digits), null when not in a git checkout. */
  commit: string | null;
  /** When it started, ISO 8601. */
  date: string;
  recipe: string;
  config: Recipe;
  dataset: DatasetName;
  backend: string;
  /** The OpenBLAS in use, when the backend was blas. */
  blas?: { library: string; config: string; threads?: number };
  /** The data's source line. */
  data: string;
  /** The readout chosen on validation data, and its test error. */
  readout: string;
  test_error: number;
  /** Every readout's error on the training, validation and test images. */
  errors: Record<string, Errors>;
  train_seconds: number;
  seconds: number;
  seconds_per_epoch_by_layer: number[];
  /** Loss per layer, per epoch. */
  losses: number[][];
  /** Mini-batch recipes run with --eval-every: every readout's errors as training went. */
  curve: { epoch: number; seconds: number; errors: Record<string, Omit<Errors, "train">> }[];
  peak_memory_mib: number;
  [key: string]: unknown;
}

/** A committed full-size run: its name, its metrics, and the line that says where they are from. */
export interface FullRun {
  name: string;
  metrics: RunMetrics;
  /**
   * One short line naming the run: command, commit, date, backend; every figure drawn from the
   * run shows it (e.g. as a subtitle).
   */
  source: string;
}

/** The command without `--out DIR`, which names one machine's folder and no setting. */
function portableCommand(command: string): string {
  return command.replace(/\s+--out(?:=|\s+)\S+/g, "").trim();
}

/**
 * The line that names a run, from its metrics.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runSource } from "./notebook.ts";
 * const line = runSource("post", {
 *   command: "deno task train --recipe post --out /tmp/post",
 *   commit: "01d4d4d0123456789abcdef0123456789abcdef0",
 *   date: "2026-12-07T16:03:00.000Z",
 *   backend: "blas",
 *   blas: { library: "libopenblas.so.0", config: "OpenBLAS 0.3.21 Haswell", threads: 2 },
 * });
 * assertEquals(line, 'full-size run "post": deno task train --recipe post · commit 01d4d4d · 2026-12-07 · blas (OpenBLAS 0.3.21, 2 threads)');
 * ```
 */
export function runSource(
  name: string,
  metrics: Pick<RunMetrics, "command" | "commit" | "date" | "backend" | "blas">,
): string {
  const { blas } = metrics;
  const openblas = blas?.config.match(/OpenBLAS \S+/)?.[0];
  const machine = blas
    ? `${metrics.backend} (${
      [openblas, blas.threads && `${blas.threads} thread${blas.threads === 1 ? "" : "s"}`].filter(
        Boolean,
      )
        .join(", ")
    })`
    : metrics.backend;
  return [
    `full-size run "${name}": ${portableCommand(metrics.command)}`,
    metrics.commit ? `commit ${metrics.commit.slice(0, 7)}` : "no commit recorded",
    metrics.date.slice(0, 10),
    machine,
  ].join(" · ");
}

/** The names of the committed runs in `dir` (a run is a folder with a metrics.json). */
async function runNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory) continue;
      try {
        await Deno.stat(`${dir}/${entry.name}/metrics.json`);
        names.push(entry.name);
      } catch {
        // a folder without metrics.json is no run
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const rank = (name: string) => {
    const at = FULL_RUNS.indexOf(name);
    return at < 0 ? FULL_RUNS.length : at;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * The names of the committed full-size runs: those of {@linkcode FULL_RUNS} that are there,
 * in that order, then any others.
 *
 * @param options.dir where runs are; default notebooks/runs beside lib/
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { fullRuns } from "./notebook.ts";
 * const names = await fullRuns(); // e.g. ["post", "fast", "hinton", "hinton-shift"]
 * assert(names.every((name) => typeof name === "string"));
 * ```
 */
export function fullRuns({ dir = RUNS_DIR }: { dir?: string } = {}): Promise<string[]> {
  return runNames(dir);
}

/**
 * A committed full-size run: `notebooks/runs/<name>/metrics.json`, as `deno task train` wrote
 * it, with the line that names it.
 *
 * @param name a run's folder name, e.g. "post" ({@linkcode fullRuns} lists them)
 * @param options.dir where runs are; default notebooks/runs beside lib/
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { fullRun, fullRuns } from "./notebook.ts";
 * for (const name of await fullRuns()) {
 *   const { metrics, source } = await fullRun(name);
 *   assertStringIncludes(source, `"${name}"`); // e.g. full-size run "post": deno task train ...
 *   console.log(`${name}: test error ${metrics.test_error}`);
 * }
 * ```
 */
export async function fullRun(
  name: string,
  { dir = RUNS_DIR }: { dir?: string } = {},
): Promise<FullRun> {
  const path = `${dir}/${name}/metrics.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const have = await runNames(dir);
    throw new Error(
      `no full-size run "${name}" in ${dir}: use one of ${
        have.length ? have.join(", ") : "(none there yet)"
      }`,
    );
  }
  const metrics = JSON.parse(text) as RunMetrics;
  for (const field of ["command", "date", "backend", "test_error", "losses"] as const) {
    if (metrics[field] === undefined) {
      throw new Error(
        `${path} has no "${field}": write it anew with \`deno task train\` (cli/train.ts)`,
      );
    }
  }
  return { name, metrics, source: runSource(name, metrics) };
}
