/**
 * The locally connected layers' two implementations, and `hinton` beside them, one epoch each on
 * the same images, back to back in one process (rounds interleaved, so that a machine whose speed
 * drifts slows all three alike):
 *
 * - `hinton`: 3 × 1000 dense, the target (an epoch of `hinton-local` at most 1.3× this);
 * - `gathered`: `hinton-local` as the library runs it, one product per location over its patch;
 * - `masked`: the same net as a dense weight that is zero outside each patch, its gradient
 *   multiplied by the fixed 0/1 mask on every step (Keras's LocallyConnected2D "implementation 2").
 *
 *   deno run -A bench/local.ts [--train-size 10000] [--rounds 2] [--backend blas]
 *     [--sides hinton,gathered,masked]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { denseWeight, FFNN, setBackend, tf } from "../lib/mod.ts";
import { loadMnistOrSubset, pick } from "../lib/data/mod.ts";
import {
  inputWidth,
  miniBatchOptions,
  networkOptions,
  recipe,
  withPixels,
} from "../lib/experiment.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    "train-size": { type: "string", default: "10000" },
    rounds: { type: "string", default: "2" },
    backend: { type: "string", default: "blas" },
    sides: { type: "string", default: "hinton,gathered,masked" },
  },
}).values;

const backend = await setBackend(flags.backend);
const size = Number(flags["train-size"]);
const data = withPixels(await loadMnistOrSubset("data/mnist"), "unit");
const { x, y } = pick(data.train, Array.from({ length: size }, (_, i) => i));

/** A network for each side, and its epoch's options. */
function build(side: string): FFNN {
  const r = recipe(side === "hinton" ? "hinton" : "hinton-local");
  const dims = [inputWidth(r.label), ...r.layers];
  if (side !== "masked") return new FFNN(dims, networkOptions(r));
  // Masked: a dense net of the local widths, started at the local net's initial weights (zero
  // outside every patch), each gradient masked before the optimiser's step.
  const local = new FFNN(dims, networkOptions(r));
  const { local: _, ...dense } = networkOptions(r);
  const net = new FFNN(dims, dense);
  net.layers.forEach((layer, i) => {
    const geometry = local.layers[i].local!;
    const start = denseWeight(local.layers[i].weight, geometry, dims[i]);
    layer.weight.assign(start);
    const mask = tf.tidy(() => denseWeight(tf.onesLike(local.layers[i].weight), geometry, dims[i]));
    start.dispose();
    const step = layer.optimizer.step.bind(layer.optimizer);
    layer.optimizer.step = ([weight, bias], scale) => step([tf.mul(weight, mask), bias], scale);
  });
  local.dispose();
  return net;
}

const sides = flags.sides.split(",");
const seconds: Record<string, number[]> = Object.fromEntries(sides.map((s) => [s, []]));
for (let round = 0; round < Number(flags.rounds); round++) {
  for (const side of sides) {
    const net = build(side);
    const r = recipe(side === "hinton" ? "hinton" : "hinton-local");
    const start = performance.now();
    await net.trainMiniBatch(x, y, { ...miniBatchOptions({ ...r, batchSize: 100 }), epochs: 1 });
    seconds[side].push((performance.now() - start) / 1000);
    net.dispose();
    console.log(`round ${round + 1}, ${side}: ${seconds[side].at(-1)!.toFixed(1)} s`);
  }
}
const best = (side: string) => Math.min(...seconds[side]);
console.log(
  `backend ${backend}, ${size} images, best of ${flags.rounds}: ` +
    sides.map((s) => `${s} ${best(s).toFixed(1)} s (${(best(s) / best("hinton")).toFixed(2)}×)`)
      .join(", "),
);
