/**
 * The weights file's size and its save and load times, JSON against binary float32 and float16,
 * for the networks of `hinton` and `post`; and, given a trained network, how much float16 changes
 * its test error.
 *
 *   deno run -A bench/weights_file.ts [--backend blas] [--repeat 3]
 *   deno run -A bench/weights_file.ts --weights runs/post/weights.json [--data data/mnist]
 *
 * The first form times networks as built (the values do not change a file's size or speed). The
 * second reads the recipe (its pixel scaling) and the dataset from the run's metrics.json, or from
 * the header of a .ffw file, and scores the network on the test split, then the same network
 * rounded to float16.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FFNN, setBackend, tf } from "../lib/mod.ts";
import { type DatasetName, loadDataset, pickAll } from "../lib/data/mod.ts";
import { errorRates, inputWidth, networkOptions, recipe, withPixels } from "../lib/experiment.ts";
import type { Recipe } from "../lib/recipe.ts";
import { loadNetwork, readWeightsHeader, saveNetwork } from "../lib/weights.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "auto" },
    repeat: { type: "string", default: "3" },
    weights: { type: "string" },
    data: { type: "string", default: "data/mnist" },
  },
}).values;

const backend = await setBackend(flags.backend);
const dir = await Deno.makeTempDir();

/** The median of `repeat` timings of `f`, in milliseconds. */
async function median(f: () => Promise<unknown>): Promise<number> {
  const times = [];
  for (let i = 0; i < Number(flags.repeat); i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

if (flags.weights) {
  const path = flags.weights;
  let r: Recipe;
  let dataset: DatasetName;
  if (path.endsWith(".json")) {
    const metrics = JSON.parse(await Deno.readTextFile(path.replace(/[^/]*$/, "metrics.json")));
    [r, dataset] = [metrics.config ?? recipe(metrics.recipe), metrics.dataset];
  } else {
    const header = await readWeightsHeader(path);
    [r, dataset] = [header.recipe!, header.dataset as DatasetName];
  }
  const data = withPixels(await loadDataset(dataset, flags.data), r.pixels, dataset);
  const { x, y } = pickAll(data.test);
  const net = await loadNetwork(path);
  await saveNetwork(net, `${dir}/half.ffw`, { precision: "float16" });
  const half = await loadNetwork(`${dir}/half.ffw`);
  const [full, rounded] = [await errorRates(net, x, y), await errorRates(half, x, y)];
  console.log(`${path} (${r.name}, ${dataset}, ${y.length} test images, backend ${backend})`);
  for (const readout of net.readouts) {
    const [a, b] = [full[readout]!, rounded[readout]!];
    console.log(
      `${readout.padEnd(20)} float32 ${(a * 100).toFixed(2)}%  float16 ${(b * 100).toFixed(2)}%` +
        `  (${((b - a) * y.length).toFixed(0)} images)`,
    );
  }
  tf.dispose(x);
} else {
  console.log(`backend ${backend}, median of ${flags.repeat}`);
  console.log(`${"network".padEnd(30)}${"file".padEnd(14)}     bytes   save ms  load ms`);
  for (const name of ["hinton", "post"]) {
    const r = recipe(name);
    const net = new FFNN([inputWidth(r.label), ...r.layers], networkOptions(r));
    const count = net.layers.reduce((n, l) => n + l.weight.size + l.bias.size, 0) +
      (net.readout?.weights ?? []).reduce((n, w) => n + w.size, 0);
    for (
      const [file, options] of [
        ["weights.json", {}],
        ["weights.ffw", {}],
        ["half.ffw", { precision: "float16" }],
      ] as const
    ) {
      const path = `${dir}/${file}`;
      const save = await median(() => saveNetwork(net, path, options));
      const load = await median(async () => (await loadNetwork(path)).dispose());
      const { size } = await Deno.stat(path);
      console.log(
        `${`${name} (${count} parameters)`.padEnd(30)}${file.padEnd(14)}${
          String(size).padStart(10)
        }` +
          `  ${save.toFixed(0).padStart(8)}  ${load.toFixed(0).padStart(7)}`,
      );
    }
    net.dispose();
  }
}
await Deno.remove(dir, { recursive: true });
