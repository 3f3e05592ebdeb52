/**
 * ff-notebooks: Forward-Forward networks (Hinton, 2022) with TensorFlow.js, as in the blog post
 * "Forward Forward Neural Networks" and in Hinton's own code. This module re-exports the public
 * API; each part also has an entry of its own:
 *
 * - `core/mod.ts`: the ideas (data, goodness, layer, network, optimisers, readout), tfjs only
 * - `backends/mod.ts`: `setBackend` (blas, wasm, cpu, tensorflow, webgpu)
 * - `data/mod.ts`: MNIST and Fashion-MNIST, fetched, checked, split
 * - `experiment.ts`: named recipes and `runExperiment`
 * - `plot/mod.ts`: figures for Jupyter, an html report, training progress
 * - `notebook.ts`: a notebook's `setup()`, run sizes, the committed full-size runs (`fullRun`)
 * - `weights.ts`: saving and loading networks
 * - `checkpoint.ts`: checkpoints, so that a stopped run continues where it left off
 *
 * Permissions a script using lib/ needs, by what it does (`deno run --allow-read --allow-ffi
 * --allow-env script.ts` trains on MNIST already fetched):
 *
 * - `--allow-read`: to load data, and for the `wasm` backend, which reads its .wasm files
 * - `--allow-ffi`: for the `blas` backend (OpenBLAS); without it `setBackend()` picks `wasm`
 * - `--allow-env`: to honour the `FF_*` variables of `env.ts`; without it their defaults hold
 * - `--allow-write`: `fetchMnist`, `saveNetwork`, checkpoints, reports
 * - `--allow-net`: `fetchMnist` from a URL or the public mirrors
 *
 * Without a permission it needs, a call stops with one line naming the flag to add.
 *
 * @example Train Hinton's recipe for 3 epochs on 10,000 digits: about 6% test error
 * ```ts
 * import { assert } from "@std/assert";
 * import { loadMnistOrSubset, recipe, runExperiment, setBackend } from "./mod.ts";
 *
 * await setBackend(); // blas where OpenBLAS is installed, else wasm
 * const data = await loadMnistOrSubset("data/mnist");
 * const result = await runExperiment(data, recipe("fast", { trainSize: 10_000, epochs: 3 }));
 * console.log(result.readout, result.testError); // "softmax" 0.0651 on full MNIST with OpenBLAS
 * assert(result.testError < 0.1);
 * result.net.dispose();
 * ```
 *
 * @module
 */
export * from "./core/mod.ts";
export { type BackendName, BACKENDS, setBackend } from "./backends/mod.ts";
export * from "./data/mod.ts";
export {
  checkRecipe,
  DEFAULT_RECIPE,
  errorRate,
  errorRates,
  type Errors,
  type ExperimentResult,
  INGREDIENTS,
  inputWidth,
  type Recipe,
  recipe,
  RECIPES,
  runExperiment,
  type RunOptions,
  type Stages,
  withPixels,
} from "./experiment.ts";
export * from "./plot/mod.ts";
export { show } from "./jupyter.ts";
export {
  type FullRun,
  fullRun,
  fullRuns,
  type RunMetrics,
  type RunSize,
  runSize,
  type RunSizeName,
  type Setup,
  setup,
  type SetupOptions,
  trimTestSplit,
} from "./notebook.ts";
export { loadNetwork, readWeightsHeader, saveNetwork } from "./weights.ts";
export {
  CHECKPOINT_FILE,
  Checkpointer,
  type CheckpointOptions,
  openCheckpoint,
  readCheckpoint,
  TrainingInterrupted,
} from "./checkpoint.ts";
export { writeFileAtomic } from "./files.ts";
export { ENV_VARIABLES, readEnv } from "./env.ts";
export { peakMemoryMiB } from "./process.ts";
