// Seconds per epoch per layer of the post's full-batch training step, on every backend that
// loads here, at 10,000 and 50,000 images (positive and negative: twice as many rows).
//   deno task bench            (all)      deno task bench --filter blas   (one backend)
// Each iteration is one epoch (one Adam step on the whole batch); the inputs are prepared once
// per layer, as in training. GFLOP/s counts the two matrix products of an epoch.
import { Layer, setBackend, tf, type TrainingInputs } from "../lib/mod.ts";

const SIZES = [10_000, 50_000];
const LAYERS: [number, number][] = [[794, 500], [500, 500]];
// The plain-JavaScript cpu backend needs minutes per epoch at 50,000 images.
const TOO_SLOW: Record<string, number> = { cpu: 10_000, wasm: 50_000 };

async function available(name: string): Promise<boolean> {
  try {
    await setBackend(name);
    return true;
  } catch (e) {
    console.error(`bench: skipping ${name}: ${(e as Error).message}`);
    return false;
  }
}

/** Peak resident memory (VmHWM; Deno lets only --allow-all read it), else the current one. */
function memoryMiB(): string {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    return `peak memory (VmHWM): ${Number(status.match(/VmHWM:\s+(\d+)/)?.[1]) / 1024} MiB`;
  } catch {
    return `resident memory at the end: ${(Deno.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`;
  }
}

for (const backend of ["blas", "wasm", "cpu"]) {
  if (!await available(backend)) continue;
  for (const size of SIZES.filter((n) => n <= (TOO_SLOW[backend] ?? Infinity))) {
    for (const [inFeatures, outFeatures] of LAYERS) {
      let layer: Layer | undefined;
      let inputs: TrainingInputs | undefined;
      let epochs = 0;
      let seconds = 0;
      Deno.bench({
        name: `${backend} ${size} images, layer ${inFeatures}->${outFeatures}`,
        group: `${size} images, layer ${inFeatures}->${outFeatures}`,
        n: size > 10_000 ? 4 : 10,
        warmup: 1,
        async fn(b) {
          await setBackend(backend);
          if (!layer) {
            layer = new Layer(inFeatures, outFeatures, { seed: 1 });
            const [xPositive, xNegative] = [0, 1].map((seed) =>
              tf.randomNormal([size, inFeatures], 0, 1, "float32", seed) as tf.Tensor2D
            );
            inputs = layer.trainingInputs(xPositive, xNegative);
            tf.dispose([xPositive, xNegative]);
          }
          b.start();
          const start = performance.now();
          const loss = tf.tidy(() => layer!.adamStep(inputs!).loss);
          await loss.data();
          seconds += (performance.now() - start) / 1000;
          b.end();
          loss.dispose();
          epochs++;
        },
      });
      addEventListener("unload", () => {
        if (!epochs) return;
        const flops = 2 * 2 * (2 * size) * (inFeatures + 1) * outFeatures;
        console.log(
          `${backend} ${size} ${inFeatures}->${outFeatures}: ${
            (seconds / epochs).toFixed(3)
          } s/epoch, ` +
            `${
              (flops * epochs / seconds / 1e9).toFixed(0)
            } GFLOP/s in matrix products (${epochs} epochs)`,
        );
      });
    }
  }
}

addEventListener(
  "unload",
  () => console.log(memoryMiB()),
);
