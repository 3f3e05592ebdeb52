/**
 * `deno task train`: trains a Forward-Forward network by a named recipe, prints the error of
 * every readout, and writes a run folder with metrics.json, weights.ffw and report.html; while
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
  TrainingInterrupted,
} from "../lib/checkpoint.ts";
import { DatasetMismatchError, type DatasetName, DATASETS, loadOrFetch } from "../lib/data/mod.ts";
import {
  DEFAULT_RECIPE,
  inputWidth,
  type Recipe,
  recipe,
  RECIPES,
  runExperiment,
} from "../lib/experiment.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { lossCurves, progressReporter, writeReport } from "../lib/plot/mod.ts";
import { gitCommit, peakMemoryMiB } from "../lib/process.ts";
import { saveNetwork } from "../lib/weights.ts";
import {
  exitCode,
  reportInterrupted,
  resumeCommand,
  resumedRun,
  type ResumeOptions,
  type RunMeta,
  stopOnSignals,
  type TrainOptions,
} from "./resume.ts";
import { claimRunFolder, WEIGHTS_FILE } from "./run_folder.ts";

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
    read: (f, t) => t.split(",").map((p) => integer(f, p.trim(), 1, MAX_WIDTH)),
    help: "hidden layer widths, e.g. 1000,1000,1000",
  },
  threshold: {
    field: "threshold",
    read: (f, t) => real(f, t, [">", 0]),
    help: "goodness threshold θ (default 2 for mean goodness, the width for sum)",
  },
  lr: {
    field: "learningRate",
    read: (f, t) => real(f, t, [">", 0]),
    help: "learning rate of the layers' optimiser",
  },
  optimizer: {
    field: "optimizer",
    read: (f, t) => oneOf(f, t, ["adam", "sgd"]),
    help: "adam (the post) or sgd (Hinton)",
  },
  momentum: {
    field: "momentum",
    read: (f, t) => real(f, t, [">=", 0], ["<", 1]),
    help: "SGD's momentum",
  },
  "weight-decay": {
    field: "weightDecay",
    read: (f, t) => real(f, t, [">=", 0]),
    help: "SGD's weight cost on the layers' weights",
  },
  peer: {
    field: "peerNormalization",
    read: (f, t) => real(f, t, [">=", 0]),
    help: "peer normalisation's strength (0: off)",
  },
  label: {
    field: "label",
    read: (f, t) => oneOf(f, t, ["concat", "overlay", "none"]),
    help: "concat (the post), overlay (over the first pixels), or none (unsupervised)",
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
    read: (f, t) => oneOf(f, t, ["permute", "wrong", "hard", "hybrid"]),
    help: "permute (the post), wrong, hard (from the readout), or hybrid (label none)",
  },
  blurs: {
    field: "blurs",
    read: (f, t) => integer(f, t, 0),
    help: "negatives hybrid: blurs of each mask's random bits",
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
  dropout: {
    field: "dropout",
    read: (f, t) => real(f, t, [">=", 0], ["<", 1]),
    help: "fraction of units dropped in training",
  },
  pixels: {
    field: "pixels",
    read: (f, t) => oneOf(f, t, ["standard", "unit"]),
    help: "standard (mean/std, the post) or unit ([0, 1], Hinton)",
  },
  seed: {
    field: "seed",
    // The generators take 32 bits: a larger seed would wrap round to another run's.
    read: (f, t) => integer(f, t, 0, 2 ** 32 - 1),
    help: "seed of every random choice",
  },
};

type RecurrentSettings = NonNullable<Recipe["recurrent"]>;

/** The recurrent recipes' step settings (`recurrent` in a recipe), each with its flag. */
const RECURRENT_FIELDS: Record<
  string,
  { field: keyof RecurrentSettings; read: (flag: string, text: string) => unknown; help: string }
> = {
  iterations: {
    field: "iterations",
    read: (f, t) => integer(f, t, 1),
    help: "recurrent recipes: synchronous steps after the bottom-up pass",
  },
  damping: {
    field: "damping",
    read: (f, t) => real(f, t, [">=", 0], ["<", 1]),
    help: "recurrent recipes: the share of the old state each step keeps",
  },
  "test-iterations": {
    field: "testIterations",
    read: (f, t) => {
      const m = t.match(/^\s*(\d+)\s*-\s*(\d+)\s*$/);
      if (!m) throw new Error(`--${f} must be two steps FIRST-LAST, e.g. 3-5, got "${t}"`);
      return [Number(m[1]), Number(m[2])];
    },
    help: "recurrent recipes: steps FIRST-LAST whose goodness the test averages, e.g. 3-5",
  },
  "label-length": {
    field: "labelLength",
    read: (f, t) => real(f, t, [">", 0]),
    help: "recurrent recipes: the label's length at the top (default: √ of the top layer's width)",
  },
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
  --out DIR           run folder (default runs/<date-time>, with -2, -3, ... if that is taken);
                      one that holds another run's results is refused, and one that
                      another run is using
  --overwrite         replace the results of another run in --out (once the new run has
                      trained its first epoch)
  --eval-every N      mini-batch recipes: print every readout's validation and test error every
                      N epochs (metrics.json keeps the curve)
  --resume DIR        continue the run in DIR (stopped by Ctrl-C, a kill, a crash) from its
                      checkpoint, with its own settings (--checkpoint-every and
                      --eval-every included); --data, --backend, --checkpoint-every and
                      --eval-every may be given again
  --checkpoint-every MINUTES
                      most minutes between checkpoints within a layer (default ${DEFAULT_EVERY_MINUTES};
                      0: every epoch; one is also written at every layer's end). Given, a
                      checkpoint that cannot be written stops the run; else it is a warning
  --help              this text

Ctrl-C (or SIGTERM, or SIGHUP from a closed terminal) stops after the epoch under way, writes a
checkpoint, a partial report.html and metrics.json, and prints the command that continues; after
the last epoch, it lets the results be written first. A second Ctrl-C stops at once.

Any recipe setting can be changed:
${
  Object.entries({ ...FIELDS, ...RECURRENT_FIELDS }).map(([flag, { help }]) =>
    `  --${flag.padEnd(17)} ${help}`
  ).join("\n")
}
  --readout-from N    the softmax readout reads hidden layers N and above (1: all of them)`;

/** Widest hidden layer a flag may ask for; what fits in memory is checked once the recipe is known. */
const MAX_WIDTH = 1_000_000;

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new Error(`--${flag} must be an integer ${range}, got "${text}"`);
  }
  return value;
}

type Bound = [">" | ">=" | "<" | "<=", number];

/** A finite number within `bounds`, e.g. `[">=", 0], ["<", 1]`. */
function real(flag: string, text: string, ...bounds: Bound[]): number {
  const value = Number(text);
  const within = ([op, limit]: Bound) =>
    op === ">"
      ? value > limit
      : op === ">="
      ? value >= limit
      : op === "<"
      ? value < limit
      : value <= limit;
  if (text.trim() === "" || !Number.isFinite(value) || !bounds.every(within)) {
    const range = bounds.map(([op, limit]) => ` ${op} ${limit}`).join(" and");
    throw new Error(`--${flag} must be a number${range}, got "${text}"`);
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

/**
 * The library's option names in a message, replaced by the flags that set them; never inside
 * `paths` (the folders the command line named: a run folder called "my epochs" stays as it is),
 * nor inside anything that looks like a path or a file name.
 */
export function inFlagTerms(message: string, paths: string[] = []): string {
  const names = Object.fromEntries(
    Object.entries({ ...FIELDS, ...RECURRENT_FIELDS }).map((
      [flag, { field }],
    ) => [field, `--${flag}`]),
  );
  names.peerNormalization = "--peer";
  const rewrite = (text: string) =>
    text.replace(
      /(?<![\w./-])(trainSize|batchSize|learningRate|weightDecay|peerNormalization|labelValue|epochs|layers|threshold|momentum|dropout|shift|cooldown|negatives|blurs|seed|iterations|testIterations|damping|labelLength)(?![\w-]|[./]\w)/g,
      (name) => names[name] ?? name,
    );
  // The longest first, so that a path inside another is kept whole with it.
  const kept = [...new Set(paths.filter((path) => path !== ""))].sort((a, b) =>
    b.length - a.length
  );
  const parts: string[] = [];
  let rest = message;
  for (;;) {
    const found = kept.map((path) => [rest.indexOf(path), path] as const)
      .filter(([at]) => at >= 0)
      .sort(([a], [b]) => a - b)[0];
    if (!found) break;
    const [at, path] = found;
    parts.push(rewrite(rest.slice(0, at)), path);
    rest = rest.slice(at + path.length);
  }
  return parts.join("") + rewrite(rest);
}

/** The folders named on the command line: `--out`, `--data`, `--resume`, as given. */
function pathsIn(args: string[]): string[] {
  const paths = [];
  for (const [i, arg] of args.entries()) {
    const [name, value] = arg.split(/=(.*)/s);
    if (!["--out", "--data", "--resume"].includes(name)) continue;
    paths.push(value ?? args[i + 1] ?? "");
  }
  return paths;
}

/**
 * `--lr -1` as `--lr=-1`: parseArgs takes a value that starts with "-" for an option, and the
 * flag's own check then says what range it wants.
 */
function joinNegatives(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (/^--[\w-]+$/.test(args[i]) && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      joined.push(`${args[i]}=${next}`);
      i++;
    } else joined.push(args[i]);
  }
  return joined;
}

/** Reads the command line; throws a one-line error for anything it cannot use. */
export function parseTrainArgs(args: string[]): TrainOptions | ResumeOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegatives(args),
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(
          [
            ...Object.keys(FIELDS),
            ...Object.keys(RECURRENT_FIELDS),
            ...RUN_FLAGS,
            "data",
            "backend",
            "resume",
            "checkpoint-every",
            "eval-every",
            "readout-from",
          ]
            .map((name) => [name, { type: "string" as const }]),
        ),
        overwrite: { type: "boolean" },
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
    const changed = [
      ...Object.keys(FIELDS),
      ...Object.keys(RECURRENT_FIELDS),
      ...RUN_FLAGS,
      "readout-from",
      "overwrite",
    ].find((name) => parsed[name] !== undefined);
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
  const steps: Partial<RecurrentSettings> = {};
  for (const [key, { field, read }] of Object.entries(RECURRENT_FIELDS)) {
    const text = flag(key);
    if (text === undefined) continue;
    const base = RECIPES[name].recurrent;
    if (!base) {
      const names = Object.values(RECIPES).filter((r) => r.recurrent).map((r) => r.name);
      throw new Error(
        `--${key} is a setting of the recurrent recipes: add --recipe ${names.join(" or ")}`,
      );
    }
    (steps as Record<string, unknown>)[field] = read(key, text);
    overrides.recurrent = { ...base, ...steps };
  }
  const dataset = oneOf(
    "dataset",
    flag("dataset") ?? "mnist",
    Object.keys(DATASETS) as DatasetName[],
  );
  const from = flag("readout-from");
  if (from !== undefined) {
    const readout = "readout" in overrides ? overrides.readout : RECIPES[name].readout;
    const n = integer("readout-from", from, 1);
    if (!readout) {
      throw new Error(
        `--readout-from ${from} needs the softmax readout: ` +
          ("readout" in overrides ? "drop --readout off" : "add --readout on"),
      );
    }
    const layers = (overrides.layers ?? RECIPES[name].layers).length;
    if (n > layers) {
      throw new Error(
        `--readout-from ${from}: the last hidden layer is number ${layers}: use 1 (all) to ${layers}`,
      );
    }
    overrides.readout = { ...readout, fromLayer: n - 1 };
  }
  let resolved: Recipe;
  try {
    resolved = recipe(name, overrides);
  } catch (e) {
    throw new Error(inFlagTerms((e as Error).message));
  }
  checkFits(resolved);
  return {
    recipe: resolved,
    dataset,
    data: flag("data") ?? DATASETS[dataset].dir,
    backend: flag("backend"),
    out: flag("out"),
    overwrite: parsed.overwrite === true,
    checkpointEvery,
    evaluateEvery,
  };
}

/**
 * The network's weights and optimiser state alone must fit in this machine's memory: a width
 * far too large would otherwise end in "Array buffer allocation failed", naming nothing.
 */
function checkFits(r: Recipe): void {
  let free: number;
  try {
    free = Deno.systemMemoryInfo().available;
  } catch {
    return; // Without --allow-sys, the allocation's own error has to do.
  }
  const widths = [inputWidth(r.label), ...r.layers];
  let weights = 0;
  for (let i = 1; i < widths.length; i++) weights += (widths[i - 1] + 1) * widths[i];
  if (r.readout) weights += r.layers.reduce((a, b) => a + b) * 10;
  // float32, and per weight Adam's two moments or SGD's velocity.
  const bytes = weights * 4 * (r.optimizer === "adam" ? 3 : 2);
  if (bytes <= free) return;
  const gb = (n: number) => (n / 2 ** 30).toFixed(1);
  throw new Error(
    `--layers ${r.layers.join(",")} needs ${gb(bytes)} GiB for the weights and their optimiser ` +
      `state alone, more than the ${
        gb(free)
      } GiB of memory free here: use narrower or fewer layers`,
  );
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

/**
 * Seconds since the last call (the first: since the runtime started, module loading included;
 * Deno's own launch before that, a few tenths of a second, is not seen from inside).
 */
function stopwatch(): () => number {
  let last = 0;
  return () => {
    const now = performance.now();
    const seconds = (now - last) / 1000;
    last = now;
    return seconds;
  };
}

const STAGE_NAMES: Record<string, string> = { startup: "start-up and backend" };

/** "time: start-up and backend 0.6 s, data 1.2 s, ... (12.3 s in all)". */
export function describeStages(stages: Record<string, number>): string {
  const all = Object.values(stages).reduce((a, b) => a + b, 0);
  const each = Object.entries(stages).map(([name, s]) =>
    `${STAGE_NAMES[name] ?? name} ${s.toFixed(1)} s`
  );
  return `time: ${each.join(", ")} (${all.toFixed(1)} s in all)`;
}

/** Runs the command; returns its exit code. */
async function main(args: string[]): Promise<number> {
  const parsed = parseTrainArgs(args);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  const resuming = "resume" in parsed;
  if (resuming) {
    try {
      await Deno.stat(parsed.resume);
    } catch {
      throw new Error(`--resume ${parsed.resume}: there is no such folder`);
    }
  }
  // Before any data is read or any epoch trained: a folder that is taken, holds another run's
  // results or cannot be written is refused now rather than after hours of training. A resumed
  // run locks its folder before reading the checkpoint, so that two cannot continue one run.
  const folder = await claimRunFolder(resuming ? parsed.resume : parsed.out, {
    resume: resuming,
    overwrite: !resuming && parsed.overwrite,
  });
  try {
    const options = resuming ? await resumedRun(parsed) : { ...parsed, out: folder.dir };
    return await train(options as TrainOptions & { out: string }, args, folder.previous);
  } finally {
    folder.release();
  }
}

/** Trains and writes the run's files; `previous`: another run's files in the folder, to replace. */
async function train(
  options: TrainOptions & { out: string },
  args: string[],
  previous: string[],
): Promise<number> {
  const { recipe: r, dataset, out } = options;
  const paths = [...pathsIn(args), out, options.data];
  const backend = await setBackend(options.backend);
  const blas = blasInUse();
  const lap = stopwatch();
  const startup = lap();
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
    console.log(`resuming ${out} after ${describePosition(options.resumed.position)}`);
  } else {
    console.log(`run folder: ${out}`);
    if (r.name !== "post") {
      console.log(`(the post's recipe exactly: deno task train --recipe post; ${POST_HERE})`);
    }
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
  // The checkpoint keeps this object: what `--resume DIR` alone needs to go on as the run began.
  // The curve grows in it as it is scored, so that each checkpoint holds the curve up to itself.
  const meta: RunMeta = {
    dataset,
    data: options.data,
    checkpointEvery: options.checkpointEvery,
    evaluateEvery: options.evaluateEvery,
    curve: [...((options.resumed?.meta as Partial<RunMeta> | undefined)?.curve ?? [])],
  };
  const loading = lap();
  const started = performance.now();
  const progress = progressReporter();
  let sampledPeak = 0;
  // The old run's checkpoint is not this run's to continue from: set aside until the first
  // epoch, and put back if this run cannot train.
  const aside = `${CHECKPOINT_FILE}.replaced`;
  if (previous.includes(CHECKPOINT_FILE)) {
    await Deno.rename(`${out}/${CHECKPOINT_FILE}`, `${out}/${aside}`);
    previous[previous.indexOf(CHECKPOINT_FILE)] = aside;
  }
  const stop = stopOnSignals();
  try {
    const p = options.resumed?.position;
    if (p && p.layer === p.layers - 1 && p.epoch === p.epochs) stop.finishing(resumeCommand(out));
    let result;
    try {
      result = await runExperiment(data, r, {
        dataset,
        evaluateEvery: options.evaluateEvery,
        onEvaluate: (point) => {
          meta.curve.push(point);
          console.log(
            `epoch ${point.epoch} (${point.seconds.toFixed(0)} s of training): ` +
              Object.entries(point.errors).map(([readout, e]) =>
                `${readout} validation ${e.validation.toFixed(4)} test ${e.test.toFixed(4)}`
              ).join(", "),
          );
        },
        checkpoint: {
          dir: out,
          everyMinutes: options.checkpointEvery,
          required: options.checkpointEvery !== undefined,
          signal: stop.signal,
          onWarning: (warning) => console.error(`warning: ${inFlagTerms(warning, paths)}`),
          meta: meta as unknown as Record<string, unknown>,
        },
        onEpoch: async (epoch) => {
          // The first epoch is trained: the input was good, and the old results go before this
          // run writes anything of its own.
          for (const name of previous.splice(0)) await Deno.remove(`${out}/${name}`);
          sampledPeak = Math.max(sampledPeak, Deno.memoryUsage().rss);
          // The last epoch's checkpoint, written next, holds the trained network: a signal from
          // now on lets the results be written rather than stopping after an epoch.
          if (epoch.layer === epoch.layers - 1 && epoch.epoch === epoch.epochs) {
            stop.finishing(resumeCommand(out));
          }
          return progress({
            ...epoch,
            ...(epoch.warning && { warning: inFlagTerms(epoch.warning, paths) }),
          });
        },
      });
    } catch (e) {
      if (!(e instanceof TrainingInterrupted)) throw e;
      await reportInterrupted(e, out, about, summary, r.name, meta.curve);
      return exitCode(stop.signal.reason);
    }
    const seconds = (performance.now() - started) / 1000;
    const run = lap();
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

    // Binary (lib/weights.ts): a third of the JSON's size, and the recipe it needs to be used.
    await saveNetwork(result.net, `${out}/${WEIGHTS_FILE}`, {
      recipe: r,
      dataset,
      ...about.commit && { commit: about.commit },
    });
    await writeReport(`${out}/report.html`, {
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
    // Each second of the process in one stage: the experiment's own, and the CLI's printing
    // before it (the rest of `run`) with the data.
    const { training, checkpoints, scoring } = result.stages;
    const stages = {
      startup,
      data: loading + run - training - checkpoints - scoring,
      training,
      checkpoints,
      scoring,
      // Written last, so that the peak memory covers the whole run, writing the other files
      // included; its own writing is the only time the stages leave out.
      files: lap(),
    };
    const metrics = {
      ...about,
      readout: result.readout,
      test_error: result.testError,
      errors: result.errors,
      train_seconds: result.trainSeconds,
      seconds,
      seconds_per_epoch_by_layer: result.secondsPerEpochByLayer,
      stages,
      losses: result.losses,
      // Points scored before a stop come from the checkpoint: the curve of the whole run.
      curve: meta.curve,
      peak_memory_mib: peakMemoryMiB() ?? Math.max(sampledPeak, Deno.memoryUsage().rss) / 2 ** 20,
      tfjs: tf.version_core,
      deno: Deno.version.deno,
    };
    await writeFileAtomic(`${out}/metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
    result.net.dispose();
    // The run is whole: its checkpoint would only repeat the weights (and the optimisers' state).
    await Deno.remove(`${out}/${CHECKPOINT_FILE}`).catch(() => {});
    console.log(
      `wrote ${out}/metrics.json, ${WEIGHTS_FILE}, report.html (${seconds.toFixed(1)} s)`,
    );
    console.log(describeStages(stages));
    if (stop.received) {
      console.log(`${stop.received} came after training had finished: the results are written`);
      return exitCode(stop.received);
    }
    return 0;
  } finally {
    stop.release();
    if (previous.includes(aside)) await Deno.rename(`${out}/${aside}`, `${out}/${CHECKPOINT_FILE}`);
  }
}

if (import.meta.main) {
  let code;
  try {
    code = await main(Deno.args);
  } catch (e) {
    const message = (e as Error).message.split("\n")[0];
    const memory =
      e instanceof RangeError && /allocation failed|Invalid typed array length/.test(message)
        ? ": out of memory: use narrower or fewer --layers, or a smaller --train-size or --batch-size"
        : "";
    console.error(`train: ${inFlagTerms(message, pathsIn(Deno.args))}${memory}`);
    code = 1;
  }
  Deno.exit(code);
}
