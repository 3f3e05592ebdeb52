/**
 * `deno task bench:gpu`: seconds per epoch of the two training steps on one backend (webgpu by
 * default), on whatever adapter is there, as a Markdown table for docs/performance.md:
 *
 * - the post's full-batch step: one layer trained on all positive and negative rows at once
 *   (Adam), for each of its two layers (794 → 500, 500 → 500);
 * - the paper recipe's mini-batch epoch: Hinton's network ([784, 1000, 1000, 1000]) over all the
 *   images in batches of 100, with everything his recipe does (SGD, peer normalisation, hard
 *   negatives from the softmax readout, cooldown).
 *
 *   deno task bench:gpu [--backend webgpu] [--images 50000] [--batch-images 50000] [--epochs 3]
 *                       [--hardware-only]
 *
 * The defaults are the post's and the paper's sizes: for a real GPU (bench/gpu.sh runs them).
 * On a software device like Mesa's lavapipe, ask for a few hundred images. The inputs are random
 * (the cost of a step does not depend on the pixels); each run times `--epochs` epochs after one
 * left out (it compiles the shaders and fills the buffer pools). `--hardware-only` stops, before
 * timing anything, when the adapter is a software fallback (bench/gpu.sh asks for that: a table
 * from lavapipe is not a GPU's).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FFNN, Layer, recipe, setBackend, tf } from "../lib/mod.ts";
import { miniBatchOptions, networkOptions } from "../lib/experiment.ts";

const USAGE = "usage: deno task bench:gpu [--backend webgpu] [--images N] [--batch-images N] " +
  "[--epochs N] [--hardware-only]";

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${name} must be an integer >= 1, got "${value}" (${USAGE})`);
  }
  return n;
}

/** The device a backend runs on, in words, and whether it is a GPU's hardware. */
async function describeDevice(
  backend: string,
): Promise<{ description: string; hardware: boolean }> {
  if (backend !== "webgpu") {
    const threads = navigator.hardwareConcurrency;
    return { description: `${Deno.build.arch} CPU (${threads} threads)`, hardware: false };
  }
  // The adapter tfjs-backend-webgpu asks for.
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) return { description: "no adapter", hardware: false };
  const { description, vendor, architecture, device, isFallbackAdapter } = adapter.info;
  const parts = [description, vendor && `vendor ${vendor}`, architecture, `device ${device}`];
  const named = parts.filter((part) => part !== "" && part !== "device 0").join(", ");
  return isFallbackAdapter
    ? { description: `${named} (a fallback adapter: software, not a GPU)`, hardware: false }
    : { description: named, hardware: true };
}

/** Records the seconds of every epoch after the first from the training loop's own reports. */
function epochTimer() {
  const seconds: number[] = [];
  let last = performance.now();
  return {
    onEpoch: ({ epoch }: { epoch: number }) => {
      const now = performance.now();
      if (epoch > 1) seconds.push((now - last) / 1000);
      last = now;
    },
    mean: () => seconds.reduce((a, b) => a + b, 0) / seconds.length,
  };
}

/** The post's step: `epochs` full-batch Adam steps of one layer on 2 × images rows. */
async function fullBatchStep(
  images: number,
  inFeatures: number,
  outFeatures: number,
  epochs: number,
): Promise<number> {
  const [xPositive, xNegative] = [0, 1].map((seed) =>
    tf.randomNormal([images, inFeatures], 0, 1, "float32", seed) as tf.Tensor2D
  );
  const layer = new Layer(inFeatures, outFeatures, { seed: 1, epochs: 1 + epochs });
  const timer = epochTimer();
  try {
    tf.dispose(await layer.train(xPositive, xNegative, timer));
  } finally {
    tf.dispose([xPositive, xNegative]);
    layer.dispose();
  }
  return timer.mean();
}

/** The paper recipe's epoch: Hinton's network over `images` random images, batches of 100. */
async function miniBatchEpoch(images: number, epochs: number): Promise<number> {
  const r = recipe("hinton", { epochs: 1 + epochs });
  const x = tf.randomUniform([images, 784], 0, 1, "float32", 2) as tf.Tensor2D;
  const y = Int32Array.from({ length: images }, (_, i) => i % 10);
  const net = new FFNN([784, ...r.layers], networkOptions(r));
  const timer = epochTimer();
  try {
    await net.trainMiniBatch(x, y, {
      ...miniBatchOptions({ ...r, batchSize: r.batchSize! }),
      onEpoch: timer.onEpoch,
    });
  } finally {
    x.dispose();
    net.dispose();
  }
  return timer.mean();
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs({
    args,
    options: {
      backend: { type: "string", default: "webgpu" },
      images: { type: "string", default: "50000" },
      "batch-images": { type: "string", default: "50000" },
      epochs: { type: "string", default: "3" },
      "hardware-only": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  }).values;
  if (flags.help) return void console.log(USAGE);
  const images = positiveInteger("images", flags.images);
  const batchImages = positiveInteger("batch-images", flags["batch-images"]);
  const epochs = positiveInteger("epochs", flags.epochs);
  const backend = await setBackend(flags.backend);
  const { description, hardware } = await describeDevice(backend);
  if (flags["hardware-only"] && !hardware) {
    throw new Error(
      `backend ${backend} runs on ${description}: no GPU to time (install the GPU's Vulkan ` +
        `driver; in a container, expose its graphics capability too)`,
    );
  }
  console.log(`backend ${backend} on ${description}`);
  console.log(`deno ${Deno.version.deno}, tfjs ${tf.version_core}; ${epochs} epochs timed each`);
  console.log("");
  console.log("| step | images | seconds per epoch |");
  console.log("| --- | ---: | ---: |");
  const count = (n: number) => n.toLocaleString("en-US");
  for (const [inFeatures, outFeatures] of [[794, 500], [500, 500]]) {
    const seconds = await fullBatchStep(images, inFeatures, outFeatures, epochs);
    console.log(
      `| the post's full batch, layer ${inFeatures} → ${outFeatures} (Adam, ` +
        `${count(2 * images)} rows) | ${count(images)} | ${seconds.toFixed(3)} |`,
    );
  }
  const seconds = await miniBatchEpoch(batchImages, epochs);
  console.log(
    `| the paper's mini-batch epoch, [784, 1000, 1000, 1000] in batches of 100 (SGD, peer ` +
      `normalisation, hard negatives, readout) | ${count(batchImages)} | ${seconds.toFixed(3)} |`,
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`bench:gpu: ${(e as Error).message.split("\n")[0]}`);
    Deno.exit(1);
  }
}
