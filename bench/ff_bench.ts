// Seconds per epoch per layer of the post's full-batch training step, on every backend that
// loads here, at 10,000 and 50,000 images (positive and negative: twice as many rows).
//   deno task bench            (all)      deno task bench --filter blas   (one backend)
// Each epoch is timed by the training loop's own reports (Layer.train's onEpoch), first epoch
// left out; the inputs are prepared once per layer, as in training. GFLOP/s counts the two matrix products of an epoch. On blas the
// same two products are also timed alone (cblas_sgemm, nothing else): the epoch's floor on this
// machine. The peak memory printed at the end is the whole process's: filter to one backend to
// get that backend's.
import { blasLibraryCandidates, findBlasLibrary } from "../lib/backends/blas.ts";
import { Layer, peakMemoryMiB, setBackend, tf } from "../lib/mod.ts";

const SIZES = [10_000, 50_000];
const LAYERS: [number, number][] = [[794, 500], [500, 500]];
// The plain-JavaScript cpu backend needs minutes per epoch at 50,000 images.
const TOO_SLOW: Record<string, number> = { cpu: 10_000, wasm: 50_000 };
const EPOCHS: Record<string, number> = { cpu: 2 };
const measured = new Map<string, { seconds: number; epochs: number }>();
const warmedUp = new Set<string>();
const blasLibrary = findBlasLibrary(blasLibraryCandidates());

/** Adds one epoch's time to `name`'s, leaving out the first (it fills the buffer pool). */
function record(name: string, seconds: number): void {
  if (!warmedUp.has(name)) return void warmedUp.add(name);
  const entry = measured.get(name) ?? { seconds: 0, epochs: 0 };
  measured.set(name, { seconds: entry.seconds + seconds, epochs: entry.epochs + 1 });
}

/**
 * The epoch's two products alone through cblas_sgemm: z = x̂·Wᵀ over all rows, then
 * ∂loss/∂W = dzᵀ·x̂, into reused outputs.
 */
function benchProductsAlone(size: number, inFeatures: number, outFeatures: number): void {
  const library = blasLibrary;
  if (!library.ok) return;
  const rows = 2 * size;
  const filled = (length: number) => Float32Array.from({ length }, (_, i) => Math.sin(i) / 2);
  let x: Float32Array, w: Float32Array, z: Float32Array, dw: Float32Array;
  Deno.bench({
    name: `sgemm alone ${size} images, layer ${inFeatures}->${outFeatures}`,
    group: `${size} images, layer ${inFeatures}->${outFeatures}`,
    n: size > 10_000 ? 4 : 10,
    warmup: 1,
    fn(b) {
      x ??= filled(rows * inFeatures);
      w ??= filled(outFeatures * inFeatures);
      z ??= new Float32Array(rows * outFeatures);
      dw ??= new Float32Array(outFeatures * inFeatures);
      b.start();
      const start = performance.now();
      const [m, n, k] = [rows, outFeatures, inFeatures];
      library.sgemm({ a: x, b: w, c: z, m, n, k, transposeA: false, transposeB: true, beta: 0 });
      library.sgemm({
        a: z,
        b: x,
        c: dw,
        m: n,
        n: k,
        k: m,
        transposeA: true,
        transposeB: false,
        beta: 0,
      });
      record(`sgemm ${size} ${inFeatures}->${outFeatures}`, (performance.now() - start) / 1000);
      b.end();
    },
  });
}

async function available(name: string): Promise<boolean> {
  try {
    await setBackend(name);
    return true;
  } catch (e) {
    console.error(`bench: skipping ${name}: ${(e as Error).message}`);
    return false;
  }
}

/** Seconds of each epoch after the first, from the training loop's own epoch reports. */
function epochSeconds(name: string) {
  let last = performance.now();
  return {
    onEpoch: ({ epoch }: { epoch: number }) => {
      const now = performance.now();
      if (epoch > 1) record(name, (now - last) / 1000);
      else warmedUp.add(name); // the first epoch fills the buffer pool: left out
      last = now;
    },
  };
}

for (const backend of ["blas", "wasm", "cpu"]) {
  if (!await available(backend)) continue;
  for (const size of SIZES.filter((n) => n <= (TOO_SLOW[backend] ?? Infinity))) {
    for (const [inFeatures, outFeatures] of LAYERS) {
      const name = `${backend} ${size} ${inFeatures}->${outFeatures}`;
      Deno.bench({
        name: `${backend} ${size} images, layer ${inFeatures}->${outFeatures}`,
        group: `${size} images, layer ${inFeatures}->${outFeatures}`,
        n: 1,
        warmup: 0,
        async fn() {
          await setBackend(backend);
          const epochs = 1 + (EPOCHS[backend] ?? (size > 10_000 ? 4 : 10));
          const layer = new Layer(inFeatures, outFeatures, { seed: 1, epochs });
          const [xPositive, xNegative] = [0, 1].map((seed) =>
            tf.randomNormal([size, inFeatures], 0, 1, "float32", seed) as tf.Tensor2D
          );
          tf.dispose(await layer.train(xPositive, xNegative, epochSeconds(name)));
          tf.dispose([xPositive, xNegative]);
          layer.dispose();
        },
      });
      if (backend === "blas") benchProductsAlone(size, inFeatures, outFeatures);
    }
  }
}

addEventListener("unload", () => {
  for (const [name, { seconds, epochs }] of measured) {
    const [, size, layer] = name.split(" ");
    const [inFeatures, outFeatures] = layer.split("->").map(Number);
    const flops = 2 * 2 * (2 * Number(size)) * inFeatures * outFeatures;
    const perEpoch = seconds / epochs;
    const floor = measured.get(`sgemm ${size} ${layer}`);
    const versusFloor = floor && !name.startsWith("sgemm")
      ? `, ${(perEpoch / (floor.seconds / floor.epochs)).toFixed(2)}x the products alone`
      : "";
    console.log(
      `${name}: ${perEpoch.toFixed(3)} s/epoch, ${(flops / perEpoch / 1e9).toFixed(0)} GFLOP/s ` +
        `in matrix products (${epochs} epochs)${versusFloor}`,
    );
  }
});

addEventListener("unload", () => {
  const peak = peakMemoryMiB();
  console.log(
    peak === null
      ? `resident memory at the end: ${(Deno.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`
      : `peak memory (VmHWM): ${peak.toFixed(0)} MiB`,
  );
});
