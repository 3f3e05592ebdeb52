/**
 * `deno task bench:profile`: where an epoch's time goes, kernel by kernel. Trains one epoch of a
 * recipe and prints, for every tfjs kernel that ran during it, its total milliseconds and calls,
 * beside the epoch's own seconds (the rest is JavaScript between kernels).
 *
 *   deno task bench:profile [--recipe hinton] [--train-size 10000] [--backend blas]
 *
 * Each kernel is timed from outside (a wrapper around its function), so the sums are a little
 * above what the kernels cost alone. Scoring after the epoch is left out.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { setBackend, tf } from "../lib/mod.ts";
import { loadMnistOrSubset } from "../lib/data/mod.ts";
import { recipe, runExperiment } from "../lib/experiment.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    recipe: { type: "string", default: "hinton" },
    "train-size": { type: "string", default: "10000" },
    backend: { type: "string", default: "blas" },
  },
}).values;

const backend = await setBackend(flags.backend);
const spent = new Map<string, { ms: number; calls: number }>();
for (const config of tf.getKernelsForBackend(backend)) {
  const run = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, backend);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      const start = performance.now();
      try {
        return run(args);
      } finally {
        const entry = spent.get(config.kernelName) ?? { ms: 0, calls: 0 };
        entry.ms += performance.now() - start;
        entry.calls++;
        spent.set(config.kernelName, entry);
      }
    },
  });
}

const data = await loadMnistOrSubset("data/mnist");
const r = recipe(flags.recipe, { trainSize: Number(flags["train-size"]), epochs: 1 });
let epoch = new Map<string, { ms: number; calls: number }>();
const result = await runExperiment(data, r, {
  // Snapshot at the epoch's end: what runs after it is scoring.
  onEpoch: () => void (epoch = new Map([...spent].map(([name, e]) => [name, { ...e }]))),
});
result.net.dispose();

const seconds = result.trainSeconds;
const rows = [...epoch].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((sum, [, e]) => sum + e.ms, 0);
console.log(
  `${r.name}, ${r.trainSize} images, one epoch on ${backend}: ${seconds.toFixed(2)} s, ` +
    `${(total / 1000).toFixed(2)} s of it in kernels`,
);
console.log(
  `${"kernel".padEnd(20)} ${"ms".padStart(8)} ${"share".padStart(6)} ${"calls".padStart(7)}`,
);
for (const [name, { ms, calls }] of rows.filter(([, e]) => e.ms >= total / 1000)) {
  const share = `${(100 * ms / (seconds * 1000)).toFixed(1)}%`;
  console.log(
    `${name.padEnd(20)} ${ms.toFixed(0).padStart(8)} ${share.padStart(6)} ${
      String(calls).padStart(7)
    }`,
  );
}
