/**
 * Matrix products on the `blas` backend (OpenBLAS through FFI) against tfjs's `cpu` backend.
 *
 *     deno bench --allow-ffi --allow-env --allow-read bench/blas_bench.ts
 *
 * 10000x795·795x500 is a 500-unit layer's forward pass over a batch of 10k MNIST-sized
 * inputs; cpu runs only the 10x smaller product, so that it finishes. GFLOP/s (median and best
 * call) are printed when the run ends.
 *
 * @module
 */
import { tf } from "../lib/deps.ts";
import {
  blasLibraryCandidates,
  findBlasLibrary,
  registerBlasBackend,
} from "../lib/backends/blas.ts";

type Size = [m: number, k: number, n: number];
const LARGE: Size = [10_000, 795, 500];
const SMALL: Size = [1_000, 795, 500];

const blas = registerBlasBackend();
if (blas.ok) {
  console.log(`OpenBLAS: ${blas.library}, ${blas.config}, threads: ${blas.threads ?? "?"}`);
  const coretype = Deno.env.get("OPENBLAS_CORETYPE");
  if (coretype !== undefined) {
    console.log(
      `OPENBLAS_CORETYPE=${coretype} forces these kernels; unset it to get the CPU's best`,
    );
  }
} else {
  console.warn(`bench/blas_bench.ts: blas benches ignored: ${blas.reason}`);
}

const millisecondsPerCall = new Map<string, { gflop: number; ms: number[] }>();

function gigaflop([m, k, n]: Size): number {
  return 2 * m * k * n / 1e9;
}

function record(name: string, size: Size, ms: number): void {
  const entry = millisecondsPerCall.get(name) ?? { gflop: gigaflop(size), ms: [] };
  entry.ms.push(ms);
  millisecondsPerCall.set(name, entry);
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Benches `tf.matMul` (or `tf.fused.matMul` with bias and relu) of `size` on `backend`. */
function benchMatMul(backend: string, size: Size, fused: boolean, baseline = false): void {
  const [m, k, n] = size;
  const op = fused ? "fused.matMul+bias+relu" : "matMul";
  const name = `${backend} ${op} ${m}x${k}·${k}x${n} (${gigaflop(size).toFixed(2)} GFLOP)`;
  let inputs: { a: tf.Tensor2D; b: tf.Tensor2D; bias: tf.Tensor1D } | undefined;
  Deno.bench({
    name,
    group: `${m}x${k}·${k}x${n}`,
    baseline,
    n: backend === "cpu" ? 3 : 20,
    warmup: backend === "cpu" ? 1 : 3,
    ignore: backend === "blas" && !blas.ok,
    async fn(context) {
      await tf.setBackend(backend);
      // Made on the backend that uses them, so that no data moves between backends.
      inputs ??= {
        a: tf.randomUniform([m, k], -1, 1, "float32", 1),
        b: tf.randomUniform([k, n], -1, 1, "float32", 2),
        bias: tf.randomUniform([n], -1, 1, "float32", 3),
      };
      const { a, b, bias } = inputs;
      context.start();
      const start = performance.now();
      const product = fused ? tf.fused.matMul({ a, b, bias, activation: "relu" }) : tf.matMul(a, b);
      record(name, size, performance.now() - start);
      context.end();
      product.dispose();
    },
  });
}

/** Benches cblas_sgemm alone, into a reused output: the library's speed without tfjs. */
function benchSgemm(size: Size): void {
  const [m, k, n] = size;
  const name = `sgemm alone ${m}x${k}·${k}x${n} (${gigaflop(size).toFixed(2)} GFLOP)`;
  const library = blas.ok ? findBlasLibrary(blasLibraryCandidates()) : undefined;
  const random = (length: number) => Float32Array.from({ length }, (_, i) => Math.sin(i) / 2);
  const a = random(m * k);
  const b = random(k * n);
  const c = new Float32Array(m * n);
  Deno.bench({
    name,
    group: `${m}x${k}·${k}x${n}`,
    n: 20,
    warmup: 3,
    ignore: !library?.ok,
    fn(context) {
      if (!library?.ok) return;
      context.start();
      const start = performance.now();
      library.sgemm({ a, b, c, m, n, k, transposeA: false, transposeB: false, beta: 0 });
      record(name, size, performance.now() - start);
      context.end();
    },
  });
}

benchMatMul("blas", LARGE, false, true);
benchMatMul("blas", LARGE, true);
benchSgemm(LARGE);
benchMatMul("cpu", SMALL, false, true);
benchMatMul("blas", SMALL, false);

globalThis.addEventListener("unload", () => {
  for (const [name, { gflop, ms }] of millisecondsPerCall) {
    const [typical, best] = [median(ms), Math.min(...ms)];
    const rate = (perCall: number) => (gflop / perCall * 1e3).toFixed(1);
    console.log(
      `${name}: median ${typical.toFixed(1)} ms = ${rate(typical)} GFLOP/s, ` +
        `best ${best.toFixed(1)} ms = ${rate(best)} GFLOP/s`,
    );
  }
});
