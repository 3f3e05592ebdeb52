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
 * On blas it also gives the epoch's floor: every matrix product the epoch made, of the same shapes
 * and transposes, run again by OpenBLAS's sgemm alone into reused buffers (no tfjs, no fresh
 * memory). No epoch of this arithmetic can take less.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { setBackend, tf } from "../lib/mod.ts";
import { blasLibraryCandidates, findBlasLibrary, type Sgemm } from "../lib/backends/blas.ts";
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
/** A product's sizes and transposes, and how many the epoch made. */
interface Product {
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
  count: number;
}
/** Products made, by their sizes and transposes. */
const products = new Map<string, Product>();
const PRODUCTS: string[] = [tf.BatchMatMul, tf._FusedMatMul];
for (const config of tf.getKernelsForBackend(backend)) {
  const run = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, backend);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      if (PRODUCTS.includes(config.kernelName)) {
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const { transposeA, transposeB } = args.attrs as {
          transposeA: boolean;
          transposeB: boolean;
        };
        const [m, k] = transposeA
          ? [a.shape.at(-1)!, a.shape.at(-2)!]
          : [a.shape.at(-2)!, a.shape.at(-1)!];
        const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!;
        const key = [m, k, n, transposeA, transposeB].join(" ");
        const product = products.get(key) ?? { m, k, n, transposeA, transposeB, count: 0 };
        product.count += tf.util.sizeFromShape(a.shape.slice(0, -2));
        products.set(key, product);
      }
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
let epochProducts: Product[] = [];
const result = await runExperiment(data, r, {
  // Snapshot at the epoch's end: what runs after it is scoring.
  onEpoch: () => {
    epoch = new Map([...spent].map(([name, e]) => [name, { ...e }]));
    epochProducts = [...products.values()].map((p) => ({ ...p }));
  },
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

/** Milliseconds of sgemm alone for one such product: the median of `repeats` calls. */
function sgemmMilliseconds(
  sgemm: Sgemm,
  { m, k, n, transposeA, transposeB }: Product,
  repeats = 15,
): number {
  const values = (length: number) => Float32Array.from({ length }, (_, i) => Math.sin(i) / 2);
  const [a, b, c] = [values(m * k), values(k * n), new Float32Array(m * n)];
  const times: number[] = [];
  for (let i = 0; i < repeats + 3; i++) {
    const start = performance.now();
    sgemm({ a, b, c, m, n, k, transposeA, transposeB, beta: 0 });
    if (i >= 3) times.push(performance.now() - start);
  }
  return times.sort((x, y) => x - y)[Math.floor(times.length / 2)];
}

const library = backend === "blas" ? findBlasLibrary(blasLibraryCandidates()) : undefined;
if (library?.ok) {
  let floor = 0;
  let flop = 0;
  for (const product of epochProducts) {
    floor += product.count * sgemmMilliseconds(library.sgemm, product);
    flop += product.count * 2 * product.m * product.k * product.n;
  }
  console.log(
    `the epoch's ${(flop / 1e9).toFixed(0)} GFLOP of products by sgemm alone: ` +
      `${(floor / 1000).toFixed(2)} s (${(flop / floor / 1e6).toFixed(0)} GFLOP/s), ` +
      `${(100 * floor / (seconds * 1000)).toFixed(0)}% of the epoch: no epoch can take less`,
  );
  library.close();
}
