/**
 * How much training a notebook does, chosen in one place by the environment, so that the same
 * notebook serves as a seconds-long test, a minutes-long read, and the post's full recipe:
 *
 * - `FF_QUICK=1`: tiny runs, seconds each, for tests;
 * - neither: the default, a few minutes per notebook on a 2-core CPU;
 * - `FF_FULL=1`: the post's recipe, 50,000 images and 1000 epochs per layer (hours on a CPU).
 *
 * Every number a notebook shows is printed next to {@linkcode RunSize.describe}, so that a
 * quick run's error is never mistaken for the post's.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { loadMnistOrSubset, runExperiment, runSize, trimTestSplit } from "./mod.ts";
 * const size = runSize((name) => name === "FF_QUICK" ? "1" : undefined); // the tests' size
 * const mnist = trimTestSplit(await loadMnistOrSubset(size.mnistDir), size.testSize);
 * const result = await runExperiment(mnist, size.recipe("post"), { validationSize: size.testSize });
 * await size.report(`test error ${result.testError}`); // printed with the run size beside it
 * assert(result.testError < 0.9);
 * result.net.dispose();
 * ```
 *
 * @module
 */
import { relative } from "node:path";
import type { Mnist } from "./data/mod.ts";
import { readEnv, readFlag } from "./env.ts";
import { type Recipe, recipe } from "./experiment.ts";
import { show } from "./jupyter.ts";

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
  /** One line saying which run size this is and what it trains, to print beside results. */
  describe(): string;
  /**
   * A recipe at this run size: full-batch recipes get `trainSize` and `epochs`, mini-batch ones
   * `paper.trainSize` and `paper.epochs`.
   */
  fit(r: Recipe): Recipe;
  /** A named recipe at this run size ({@linkcode RunSize.fit}); `overrides` win over both. */
  recipe(name: string, overrides?: Partial<Recipe>): Recipe;
  /**
   * Shows `lines` with {@linkcode RunSize.describe} after them: inside Jupyter as one output
   * that the cell awaits, elsewhere on stdout. Notebooks report through this rather than
   * `console.log`, whose last lines in a cell the Deno kernel may send too late to be kept.
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
  const describe = () =>
    `run size "${name}" (${HINTS[name]}): ${count(sizes.trainSize)} training images × ` +
    `${sizes.epochs} epochs per layer (full batch), ${count(sizes.paper.trainSize ?? 50_000)} × ` +
    `${sizes.paper.epochs} epochs (mini-batches${
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
    report: (...lines) => show([...lines, `(${describe()})`].join("\n")),
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
