/**
 * `deno task train`: the post's experiment from the command line.
 *
 * Trains [784 + 10, 500, 500] on MNIST, prints training and test error, and writes a run
 * folder with metrics.json, weights.json and report.html. Everything it does lives in lib/;
 * this file only reads flags and writes files.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKENDS, setBackend, tf } from "../lib/backend.ts";
import {
  checkConfig,
  DEFAULT_CONFIG,
  type ExperimentConfig,
  runExperiment,
} from "../lib/experiment.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { loadMnistOrSubset } from "../lib/mnist.ts";
import { fetchMnist } from "../lib/mnist_fetch.ts";
import { lossCurves } from "../lib/plot.ts";
import { progressReporter } from "../lib/progress.ts";
import { writeReport } from "../lib/report.ts";

const USAGE = `Usage: deno task train [flags]

Trains a Forward-Forward network on MNIST and reports training and test error.

  --train-size N      training images (default ${DEFAULT_CONFIG.trainSize}; the post: 50000)
  --epochs N          epochs per layer (default ${DEFAULT_CONFIG.epochs})
  --dims A,B,C        layer widths, input first (default 794,500,500; 784,... with --label overlay)
  --threshold X       goodness threshold (default ${DEFAULT_CONFIG.threshold})
  --lr X              Adam learning rate (default ${DEFAULT_CONFIG.learningRate})
  --seed N            seed of every random choice (default ${DEFAULT_CONFIG.seed})
  --label MODE        concat (the post) or overlay (default ${DEFAULT_CONFIG.label})
  --negatives MODE    permute (the post) or wrong (default ${DEFAULT_CONFIG.negatives})
  --batch-size N      not in the post: mini-batches of N, all layers on every batch
                      (default: the post's full batch, one layer after another)
  --backend NAME      ${BACKENDS.join(", ")} (default: env FF_BACKEND, else auto)
  --data DIR          MNIST folder (default data/mnist; fetched there when missing, from
                      FF_MNIST_MIRROR or the public mirrors)
  --out DIR           run folder (default runs/<date-time>)
  --help              this text`;

const VALUE_FLAGS = [
  "train-size",
  "epochs",
  "dims",
  "threshold",
  "lr",
  "seed",
  "label",
  "negatives",
  "batch-size",
  "backend",
  "data",
  "out",
];

/** Parsed flags: the experiment's config plus where to run and write. */
export interface TrainOptions {
  config: ExperimentConfig;
  backend?: string;
  data: string;
  out: string;
}

function integer(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
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

/** Reads the command line; throws a one-line error for anything it cannot use. */
export function parseTrainArgs(args: string[]): TrainOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(VALUE_FLAGS.map((name) => [name, { type: "string" as const }])),
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
  const d = DEFAULT_CONFIG;
  const config: ExperimentConfig = {
    trainSize: flag("train-size") ? integer("train-size", flag("train-size")!, 1) : d.trainSize,
    epochs: flag("epochs") ? integer("epochs", flag("epochs")!, 1) : d.epochs,
    threshold: flag("threshold") ? real("threshold", flag("threshold")!) : d.threshold,
    learningRate: flag("lr") ? real("lr", flag("lr")!) : d.learningRate,
    seed: flag("seed") ? integer("seed", flag("seed")!, 0) : d.seed,
    label: flag("label") ? oneOf("label", flag("label")!, ["concat", "overlay"]) : d.label,
    negatives: flag("negatives")
      ? oneOf("negatives", flag("negatives")!, ["permute", "wrong"])
      : d.negatives,
  };
  if (flag("batch-size")) config.batchSize = integer("batch-size", flag("batch-size")!, 1);
  if (flag("dims")) {
    config.dims = flag("dims")!.split(",").map((part) => integer("dims", part.trim(), 1));
    if (config.dims.length < 2) {
      throw new Error(`--dims needs the input width and at least one layer`);
    }
  }
  if (flag("backend")) oneOf("backend", flag("backend")!, BACKENDS);
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return {
    config,
    backend: flag("backend"),
    data: flag("data") ?? "data/mnist",
    out: flag("out") ?? `runs/${stamp}`,
  };
}

async function main(args: string[]): Promise<void> {
  const options = parseTrainArgs(args);
  if (options === "help") {
    console.log(USAGE);
    return;
  }
  const backend = await setBackend(options.backend);
  // Fetches only what is missing or damaged (SHA-256 checked); with no mirror reachable the
  // loader falls back, loudly, to the npm subset.
  await fetchMnist({ dir: options.data, log: (line) => console.error(line) });
  const data = await loadMnistOrSubset(options.data);
  const { config } = options;
  checkConfig(config, data);
  console.log(`data: ${data.source}`);
  console.log(
    `backend: ${backend}; ${config.trainSize} images, ${config.epochs} epochs per layer, ` +
      `threshold ${config.threshold}, lr ${config.learningRate}, seed ${config.seed}, ` +
      `label ${config.label}, negatives ${config.negatives}`,
  );
  const started = performance.now();
  const progress = progressReporter();
  let sampledPeak = 0;
  const result = await runExperiment(data, config, {
    onEpoch: (epoch) => {
      sampledPeak = Math.max(sampledPeak, Deno.memoryUsage().rss);
      return progress(epoch);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const subsetWarning = data.isSubset ? ` [${data.source}]` : "";
  console.log(`Training error: ${result.trainError.toFixed(4)}${subsetWarning}`);
  console.log(`Test error: ${result.testError.toFixed(4)}${subsetWarning}`);

  await Deno.mkdir(options.out, { recursive: true });
  await result.net.save(`${options.out}/weights.json`);
  await writeReport(`${options.out}/report.html`, {
    title: `Forward-Forward on MNIST: test error ${result.testError.toFixed(4)}`,
    summary: {
      data: data.source,
      backend,
      "training images": config.trainSize,
      "epochs per layer": config.epochs,
      dims: result.config.dims.join(", "),
      "training error": result.trainError.toFixed(4),
      "test error": result.testError.toFixed(4),
      "training seconds": result.trainSeconds.toFixed(1),
    },
    figures: [lossCurves(result.losses)],
  });
  // Written last, so that the peak memory covers the whole run, writing the other files included.
  const metrics = {
    config: result.config,
    backend,
    data: data.source,
    subset: data.isSubset,
    train_error: result.trainError,
    test_error: result.testError,
    train_seconds: result.trainSeconds,
    seconds,
    seconds_per_epoch_per_layer: result.trainSeconds / (config.epochs * result.net.layers.length),
    seconds_per_epoch_by_layer: result.secondsPerEpochByLayer,
    losses: result.losses,
    peak_memory_mib: peakMemoryMiB() ?? Math.max(sampledPeak, Deno.memoryUsage().rss) / 2 ** 20,
    tfjs: tf.version_core,
    deno: Deno.version.deno,
  };
  await writeFileAtomic(`${options.out}/metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
  result.net.dispose();
  console.log(
    `wrote ${options.out}/metrics.json, weights.json, report.html (${seconds.toFixed(1)} s)`,
  );
}

/**
 * The process's peak resident memory (Linux's VmHWM, which Deno lets only --allow-all read);
 * null where unreadable, and then metrics.json has the largest resident size seen after an epoch.
 *
 * @example
 * ```ts
 * console.log(`peak: ${peakMemoryMiB() ?? "unreadable"} MiB`);
 * ```
 */
export function peakMemoryMiB(): number | null {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    return Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1]) / 1024 || null;
  } catch {
    return null;
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`train: ${(e as Error).message.split("\n")[0]}`);
    Deno.exit(1);
  }
}
