/**
 * `deno task train`: trains a Forward-Forward network by a named recipe, prints the error of
 * every readout, and writes a run folder with metrics.json, weights.json and report.html; while
 * it trains, checkpoint.json, from which `--resume` continues a run that was stopped.
 * Everything it does lives in lib/; this file reads flags, maps the library's option names to
 * flags in its messages, and writes files.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKENDS, blasInUse, describeBlas, setBackend } from "../lib/backends/mod.ts";
import { tf } from "../lib/core/mod.ts";
import {
  CHECKPOINT_FILE,
  DEFAULT_EVERY_MINUTES,
  describePosition,
  type SavedCheckpoint,
  TrainingInterrupted,
} from "../lib/checkpoint.ts";
import { DatasetMismatchError, type DatasetName, DATASETS, loadOrFetch } from "../lib/data/mod.ts";
import { DEFAULT_RECIPE, type Recipe, recipe, RECIPES, runExperiment } from "../lib/experiment.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { lossCurves, progressReporter, writeReport } from "../lib/plot/mod.ts";
import { gitCommit, peakMemoryMiB } from "../lib/process.ts";
import { saveNetwork } from "../lib/weights.ts";
import { checkNoCheckpoint, reportInterrupted, resumedRun, stopOnSignals } from "./resume.ts";

/** Each recipe field a flag can set: its flag, how to read it, and the help line. */
const FIELDS: Record<
  string,
  { field: keyof Recipe; read: (flag: string, text: string) => unknown; help: string }
> = {
  "train-size": {
    field: "trainSize",
    read: (f, t) => integer(f, t, 1),
    help: "training images (default: all but the 10,000 held out for validation)",
  },
  epochs: {
    field: "epochs",
    read: (f, t) => integer(f, t, 1),
    help: "epochs: per layer (full batch) or passes over the images",
  },
  "batch-size": {
    field: "batchSize",
    read: (f, t) => t === "full" ? undefined : integer(f, t, 1),
    help: "images per step, or full (the post: one layer after another)",
  },
  layers: {
    field: "layers",
    read: (f, t) => t.split(",").map((p) => integer(f, p.trim(), 1)),
    help: "hidden layer widths, e.g. 1000,1000,1000",
  },
  threshold: {
    field: "threshold",
    read: real,
    help: "goodness threshold θ (default 2 for mean goodness, the width for sum)",
  },
  lr: { field: "learningRate", read: real, help: "learning rate of the layers' optimiser" },
  optimizer: {
    field: "optimizer",
    read: (f, t) => oneOf(f, t, ["adam", "sgd"]),
    help: "adam (the post) or sgd (Hinton)",
  },
  momentum: { field: "momentum", read: real, help: "SGD's momentum" },
  "weight-decay": {
    field: "weightDecay",
    read: real,
    help: "SGD's weight cost on the layers' weights",
  },
  peer: { field: "peerNormalization", read: real, help: "peer normalisation's strength (0: off)" },
  label: {
    field: "label",
    read: (f, t) => oneOf(f, t, ["concat", "overlay"]),
    help: "concat (the post) or overlay (over the first pixels)",
  },
  "label-value": {
    field: "labelValue",
    read: (f, t) => t === "max" ? "max" : real(f, t),
    help: "the label entry's value: max (the post) or a number",
  },
  normalize: {
    field: "normalize",
    read: (f, t) => oneOf(f, t, ["l2", "rms"]),
    help: "l2 (the post) or rms (Hinton)",
  },
  goodness: {
    field: "goodness",
    read: (f, t) => oneOf(f, t, ["mean", "sum"]),
    help: "mean of squares (the post) or sum (Hinton)",
  },
  init: {
    field: "init",
    read: (f, t) => oneOf(f, t, ["uniform", "normal"]),
    help: "initial weights: uniform (torch) or normal (Hinton)",
  },
  negatives: {
    field: "negatives",
    read: (f, t) => oneOf(f, t, ["permute", "wrong", "hard"]),
    help: "permute (the post), wrong, or hard (from the readout)",
  },
  readout: {
    field: "readout",
    read: (f, t) => onOff(f, t) ? { ...RECIPES.hinton.readout! } : null,
    help: "on or off: Hinton's softmax readout",
  },
  cooldown: {
    field: "cooldown",
    read: onOff,
    help: "on or off: the learning rate's cooldown over the second half",
  },
  shift: {
    field: "shift",
    read: (f, t) => integer(f, t, 0),
    help: "shift images by up to N pixels each epoch",
  },
  dropout: { field: "dropout", read: real, help: "fraction of units dropped in training" },
  pixels: {
    field: "pixels",
    read: (f, t) => oneOf(f, t, ["standard", "unit"]),
    help: "standard (mean/std, the post) or unit ([0, 1], Hinton)",
  },
  seed: { field: "seed", read: (f, t) => integer(f, t, 0), help: "seed of every random choice" },
};

const USAGE = `Usage: deno task train [flags]

Trains a Forward-Forward network by a recipe and reports the error of every readout.

  --recipe NAME       ${Object.keys(RECIPES).join(", ")} (default ${DEFAULT_RECIPE}):
${
  Object.values(RECIPES).map((r) => `                        ${r.name}: ${r.description}`).join(
    "\n",
  )
}
  --dataset NAME      ${Object.keys(DATASETS).join(" or ")} (default mnist)
  --data DIR          the dataset's folder (default data/mnist, fetched there when missing; for
                      fashion-mnist, Debian's /usr/share/datasets/fashion-mnist)
  --backend NAME      ${BACKENDS.join(", ")} (default: env FF_BACKEND, else auto)
  --out DIR           run folder (default runs/<date-time>)
  --eval-every N      mini-batch recipes: print every readout's validation and test error every
                      N epochs (metrics.json keeps the curve)
  --resume DIR        continue the run in DIR (stopped by Ctrl-C, a kill, a crash) from its
                      checkpoint, with its own settings; --data, --backend and
                      --checkpoint-every may be given again
  --checkpoint-every MINUTES
                      most minutes between checkpoints within a layer (default ${DEFAULT_EVERY_MINUTES};
                      0: every epoch; one is also written at every layer's end). Given, a
                      checkpoint that cannot be written stops the run; else it is a warning
  --help              this text

Ctrl-C (or SIGTERM) stops after the epoch under way, writes a checkpoint, a partial report.html
and metrics.json, and prints the command that continues; a second Ctrl-C stops at once.

Any recipe setting can be changed:
${Object.entries(FIELDS).map(([flag, { help }]) => `  --${flag.padEnd(17)} ${help}`).join("\n")}`;

function integer(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < min) {
    throw new Error(`--${flag} must be an integer >= ${min}, got "${text}"`);
  }
  return value;
}

function real(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new Error(`--${flag} must be a number, got "${text}"`);
  }
  return value;
}

function oneOf<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new Error(`--${flag} must be one of ${choices.join(", ")}, got "${text}"`);
  }
  return text as T;
}

function onOff(flag: string, text: string): boolean {
  return oneOf(flag, text, ["on", "off"]) === "on";
}

/** The library's option names in a message, replaced by the flags that set them. */
export function inFlagTerms(message: string): string {
  const names = Object.fromEntries(
    Object.entries(FIELDS).map(([flag, { field }]) => [field, `--${flag}`]),
  );
  names.peerNormalization = "--peer";
  // Not inside a path or a file name: a run folder called runs/shift stays as it is.
  return message.replace(
    /(?<![\w./-])(trainSize|batchSize|learningRate|weightDecay|peerNormalization|labelValue|epochs|layers|threshold|momentum|dropout|shift|cooldown|negatives|seed)(?![\w-]|[./]\w)/g,
    (name) => names[name] ?? name,
  );
}

/** Parsed flags: the recipe plus where to run and write. */
export interface TrainOptions {
  recipe: Recipe;
  dataset: DatasetName;
  data: string;
  backend?: string;
  out: string;
  evaluateEvery?: number;
  /** Given: checkpoints are wanted, and one that cannot be written stops the run. */
  checkpointEvery?: number;
  /** The checkpoint a resumed run continues from. */
  resumed?: SavedCheckpoint;
}

/** `--resume DIR`: the run's settings come from its checkpoint. */
export interface ResumeOptions {
  resume: string;
  data?: string;
  backend?: string;
  checkpointEvery?: number;
  evaluateEvery?: number;
}

/** Reads the command line; throws a one-line error for anything it cannot use. */
export function parseTrainArgs(args: string[]): TrainOptions | ResumeOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(
          [
            ...Object.keys(FIELDS),
            ...RUN_FLAGS,
            "data",
            "backend",
            "resume",
            "checkpoint-every",
            "eval-every",
          ]
            .map((name) => [name, { type: "string" as const }]),
        ),
        help: { type: "boolean" },
      },
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    const flag = (e as Error).message.match(/'([^']+)'/)?.[1] ?? "";
    throw new Error(
      `cannot use argument ${flag}: ${(e as Error).message.split(".")[0]}; see --help`,
    );
  }
  if (parsed.help) return "help";
  const flag = (name: string) => parsed[name] as string | undefined;
  const evaluateEvery = flag("eval-every") === undefined
    ? undefined
    : integer("eval-every", flag("eval-every")!, 1);
  const every = flag("checkpoint-every");
  const checkpointEvery = every === undefined ? undefined : minutes("checkpoint-every", every);
  if (flag("backend")) oneOf("backend", flag("backend")!, BACKENDS);
  const resume = flag("resume");
  if (resume !== undefined) {
    const changed = [...Object.keys(FIELDS), ...RUN_FLAGS].find((name) => flag(name) !== undefined);
    if (changed) {
      throw new Error(
        `--${changed} cannot be given with --resume, which continues ${resume} with its own ` +
          `settings: drop --${changed}, or start a new run`,
      );
    }
    return { resume, data: flag("data"), backend: flag("backend"), checkpointEvery, evaluateEvery };
  }
  const name = flag("recipe") ?? DEFAULT_RECIPE;
  if (!(name in RECIPES)) oneOf("recipe", name, Object.keys(RECIPES));
  const overrides: Partial<Recipe> = {};
  for (const [key, { field, read }] of Object.entries(FIELDS)) {
    const text = flag(key);
    if (text !== undefined) (overrides as Record<string, unknown>)[field] = read(key, text);
  }
  const dataset = oneOf(
    "dataset",
    flag("dataset") ?? "mnist",
    Object.keys(DATASETS) as DatasetName[],
  );
  let resolved: Recipe;
  try {
    resolved = recipe(name, overrides);
  } catch (e) {
    throw new Error(inFlagTerms((e as Error).message));
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return {
    recipe: resolved,
    dataset,
    data: flag("data") ?? DATASETS[dataset].dir,
    backend: flag("backend"),
    out: flag("out") ?? `runs/${stamp}`,
    checkpointEvery,
    evaluateEvery,
  };
}

/** The flags that define a new run, besides the recipe's: refused with --resume. */
const RUN_FLAGS = ["recipe", "dataset", "out"];

function minutes(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !(value >= 0) || !Number.isFinite(value)) {
    throw new Error(`--${flag} must be a number of minutes >= 0, got "${text}"`);
  }
  return value;
}

/** How long the post's recipe took here, measured, to tell users before they start it. */
const POST_HERE = "32 minutes on this project's 2-core machine with OpenBLAS";

async function main(args: string[]): Promise<void> {
  const parsed = parseTrainArgs(args);
  if (parsed === "help") {
    console.log(USAGE);
    return;
  }
  const options = "resume" in parsed ? await resumedRun(parsed) : parsed;
  if (!options.resumed) await checkNoCheckpoint(options.out);
  const { recipe: r, dataset } = options;
  const backend = await setBackend(options.backend);
  const blas = blasInUse();
  const data = await loadOrFetch(dataset, options.data, {
    pixels: r.pixels,
    log: (line) => console.error(line),
  }).catch((e) => {
    if (!(e instanceof DatasetMismatchError)) throw e;
    throw new Error(
      `--data ${e.dir} holds ${DATASETS[e.found].name} (told by ${e.by}), not ` +
        `${DATASETS[e.asked].name}: pass --dataset ${e.found}, or a --data folder of ${
          DATASETS[e.asked].name
        }`,
    );
  });
  console.log(`data: ${data.source}`);
  console.log(`recipe ${r.name}: ${r.description}`);
  console.log(
    `backend: ${backend}; layers ${r.layers.join(",")}, ${r.epochs} epochs, ` +
      `${r.batchSize ? `batches of ${r.batchSize}` : "full batch"}, seed ${r.seed}`,
  );
  if (blas) console.log(`products: ${describeBlas(blas)}`);
  if (options.resumed) {
    console.log(`resuming ${options.out} after ${describePosition(options.resumed.position)}`);
  } else if (r.name !== "post") {
    console.log(`(the post's recipe exactly: deno task train --recipe post; ${POST_HERE})`);
  }
  const about = {
    command: `deno task train ${args.join(" ")}`.trim(),
    commit: gitCommit(new URL("..", import.meta.url).pathname),
    date: new Date().toISOString(),
    recipe: r.name,
    config: r,
    dataset,
    backend,
    ...blas && { blas },
    data: data.source,
    subset: data.isSubset,
  };
  const summary = {
    data: data.source,
    backend,
    recipe: `${r.name}: ${r.description}`,
    layers: r.layers.join(", "),
    epochs: r.epochs,
  };
  const started = performance.now();
  const progress = progressReporter();
  let sampledPeak = 0;
  const stop = stopOnSignals();
  let result;
  try {
    result = await runExperiment(data, r, {
      dataset,
      evaluateEvery: options.evaluateEvery,
      onEvaluate: ({ epoch, seconds, errors }) =>
        console.log(
          `epoch ${epoch} (${seconds.toFixed(0)} s of training): ` +
            Object.entries(errors).map(([readout, e]) =>
              `${readout} validation ${e.validation.toFixed(4)} test ${e.test.toFixed(4)}`
            ).join(", "),
        ),
      checkpoint: {
        dir: options.out,
        everyMinutes: options.checkpointEvery,
        required: options.checkpointEvery !== undefined,
        signal: stop.signal,
        onWarning: (warning) => console.error(`warning: ${warning}`),
        meta: { dataset, data: options.data },
      },
      onEpoch: (epoch) => {
        sampledPeak = Math.max(sampledPeak, Deno.memoryUsage().rss);
        // Past the last epoch there is nothing a checkpoint would save: a signal stops at once.
        if (epoch.layer === epoch.layers - 1 && epoch.epoch === epoch.epochs) stop.release();
        return progress({
          ...epoch,
          ...(epoch.warning && { warning: inFlagTerms(epoch.warning) }),
        });
      },
    });
  } catch (e) {
    if (!(e instanceof TrainingInterrupted)) throw e;
    await reportInterrupted(e, options.out, about, summary, r.name);
    Deno.exit(stop.signal.reason === "SIGTERM" ? 143 : 130);
  } finally {
    stop.release();
  }
  const seconds = (performance.now() - started) / 1000;
  const subset = data.isSubset ? ` [${data.source}]` : "";
  for (const [readout, e] of Object.entries(result.errors)) {
    console.log(
      `${readout.padEnd(20)} training ${e.train.toFixed(4)}  validation ` +
        `${e.validation.toFixed(4)}  test ${e.test.toFixed(4)}${subset}`,
    );
  }
  console.log(
    `Test error: ${
      result.testError.toFixed(4)
    } (readout ${result.readout}, the best on validation)${subset}`,
  );

  await Deno.mkdir(options.out, { recursive: true });
  await saveNetwork(result.net, `${options.out}/weights.json`);
  await writeReport(`${options.out}/report.html`, {
    title: `Forward-Forward, recipe ${r.name}: test error ${result.testError.toFixed(4)}`,
    summary: {
      ...summary,
      ...Object.fromEntries(
        Object.entries(result.errors).map(([readout, e]) => [
          `test error (${readout})`,
          `${e.test.toFixed(4)} (validation ${e.validation.toFixed(4)})`,
        ]),
      ),
      "training seconds": result.trainSeconds.toFixed(1),
    },
    figures: [lossCurves(result.losses)],
  });
  // Written last, so that the peak memory covers the whole run, writing the other files included.
  const metrics = {
    ...about,
    readout: result.readout,
    test_error: result.testError,
    errors: result.errors,
    train_seconds: result.trainSeconds,
    seconds,
    seconds_per_epoch_by_layer: result.secondsPerEpochByLayer,
    losses: result.losses,
    curve: result.curve,
    peak_memory_mib: peakMemoryMiB() ?? Math.max(sampledPeak, Deno.memoryUsage().rss) / 2 ** 20,
    tfjs: tf.version_core,
    deno: Deno.version.deno,
  };
  await writeFileAtomic(`${options.out}/metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
  result.net.dispose();
  // The run is whole: its checkpoint would only repeat weights.json.
  await Deno.remove(`${options.out}/${CHECKPOINT_FILE}`).catch(() => {});
  console.log(
    `wrote ${options.out}/metrics.json, weights.json, report.html (${seconds.toFixed(1)} s)`,
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`train: ${inFlagTerms((e as Error).message.split("\n")[0])}`);
    Deno.exit(1);
  }
}
