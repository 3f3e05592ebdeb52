import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "@std/assert";
import { tf } from "../lib/deps.ts";
import {
  BLAS_BACKEND,
  blasLibrary,
  blasLibraryCandidates,
  findBlasLibrary,
  registerBlasBackend,
} from "../lib/backends/blas.ts";

const blas = registerBlasBackend();
// CI must have OpenBLAS (and run with --allow-ffi), so there these tests run, and fail without.
const ci = Deno.env.get("CI") === "true";
const ignore = !blas.ok && !ci;
if (ignore) console.warn(`tests/blas_test.ts: OpenBLAS tests ignored: ${blas.ok || blas.reason}`);
const ignoreWithoutFfi = Deno.permissions.querySync({ name: "ffi" }).state !== "granted" && !ci;

/** float32 products with k ≤ 795 agree to this, relative to the largest entry. */
const TOLERANCE = 1e-5;

/** Uniform values in [-1, 1) from a 32-bit LCG (Numerical Recipes constants). */
function randomValues(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function random(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed), shape);
}

interface Result {
  shape: number[];
  dtype: string;
  values: Float32Array | Int32Array;
}

async function computeOn(backend: string, compute: () => tf.Tensor): Promise<Result> {
  await tf.setBackend(backend);
  const result = tf.tidy(compute);
  const values = result.dataSync().slice() as Float32Array | Int32Array;
  const { shape, dtype } = result;
  result.dispose();
  return { shape, dtype, values };
}

/** max |actual - expected| / max |expected| (0 for empty results). */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxDifference = 0;
  let maxExpected = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(actual[i] - expected[i]));
    maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
  }
  return maxDifference === 0 ? 0 : maxDifference / maxExpected;
}

/** Computes on cpu (`reference`, default `compute`) and on blas; asserts they agree. */
async function assertAgrees(
  label: string,
  compute: () => tf.Tensor,
  reference: () => tf.Tensor = compute,
): Promise<void> {
  const expected = await computeOn("cpu", reference);
  const actual = await computeOn(BLAS_BACKEND, compute);
  await tf.setBackend("cpu");
  assertEquals(actual.shape, expected.shape, `${label}: shape`);
  assertEquals(actual.dtype, expected.dtype, `${label}: dtype`);
  const error = relativeError(actual.values, expected.values);
  console.log(`${label}: relative error ${error.toExponential(2)}`);
  assertLess(error, TOLERANCE, `${label}: blas and cpu differ`);
}

Deno.test("findBlasLibrary asks for --allow-ffi", { permissions: { ffi: false } }, () => {
  const missing = findBlasLibrary(["libopenblas.so.0"]);
  assert(!missing.ok, "no library loads without FFI permission");
  assertStringIncludes(missing.reason, "--allow-ffi");
});

Deno.test("findBlasLibrary explains a missing library and how to install one", {
  ignore: ignoreWithoutFfi,
}, () => {
  const missing = findBlasLibrary(["/nonexistent.so"]);
  assert(!missing.ok, "a nonexistent path must not load");
  assertStringIncludes(missing.reason, "/nonexistent.so");
  assertStringIncludes(missing.reason, "apt-get install libopenblas0-pthread");
  assertStringIncludes(missing.reason, "brew install openblas");
  assertStringIncludes(missing.reason, "FF_OPENBLAS");
});

Deno.test("findBlasLibrary reports a library without the CBLAS functions", {
  ignore: ignoreWithoutFfi || Deno.build.os !== "linux",
}, () => {
  // libc is everywhere and has none of them; the reason names the one Deno missed first.
  const missing = findBlasLibrary(["libc.so.6"]);
  assert(!missing.ok);
  assertMatch(missing.reason, /undefined symbol: cblas_s(gemm|axpy|scal)/);
  assertStringIncludes(missing.reason, "install OpenBLAS");
});

Deno.test("blasLibraryCandidates: FF_OPENBLAS alone, never swapped for another", () => {
  const before = Deno.env.get("FF_OPENBLAS");
  try {
    Deno.env.set("FF_OPENBLAS", "/opt/custom/libopenblas.so");
    assertEquals(blasLibraryCandidates(), ["/opt/custom/libopenblas.so"]);
    Deno.env.delete("FF_OPENBLAS");
    assert(!blasLibraryCandidates().includes("/opt/custom/libopenblas.so"));
  } finally {
    if (before === undefined) Deno.env.delete("FF_OPENBLAS");
    else Deno.env.set("FF_OPENBLAS", before);
  }
});

Deno.test(
  "registerBlasBackend finds OpenBLAS, is idempotent and is tfjs's default where it loads",
  {
    ignore,
  },
  () => {
    assert(blas.ok, blas.ok ? "" : blas.reason);
    assertEquals(registerBlasBackend(), blas);
    const { ok: _, ...info } = blas;
    assertEquals(blasLibrary(), info);
    assertStringIncludes(blas.config, "OpenBLAS");
    assert(Number.isInteger(blas.threads) && blas.threads! >= 1, `threads: ${blas.threads}`);
    const registry = tf.engine().registryFactory;
    assertLess(registry["cpu"].priority, registry[BLAS_BACKEND].priority);
    // Every cpu kernel, and blas's own on top (the SGD update).
    const onBlas = new Set(tf.getKernelsForBackend(BLAS_BACKEND).map((k) => k.kernelName));
    const missing = tf.getKernelsForBackend("cpu").filter((k) => !onBlas.has(k.kernelName));
    assertEquals(missing.map((k) => k.kernelName), []);
  },
);

Deno.test("blasLibrary reports the threads OpenBLAS runs, OPENBLAS_NUM_THREADS honoured", {
  ignore,
}, async () => {
  const script = `import { blasLibrary, registerBlasBackend } from "${new URL(
    "../lib/backends/blas.ts",
    import.meta.url,
  )}"; registerBlasBackend(); console.log(JSON.stringify(blasLibrary()));`;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    env: { OPENBLAS_NUM_THREADS: "1" },
  }).output();
  const err = new TextDecoder().decode(run.stderr);
  assertEquals(run.code, 0, err);
  const info = JSON.parse(new TextDecoder().decode(run.stdout));
  assertEquals(info.threads, 1);
  assertEquals(info.config, blas.ok && blas.config);
});

Deno.test("findBlasLibrary's sgemm multiplies views at an offset", { ignore }, () => {
  const found = findBlasLibrary(blasLibraryCandidates());
  assert(found.ok, found.ok ? "" : found.reason);
  try {
    // [[1, 2], [3, 4]] · [[5, 6], [7, 8]], both stored after one padding value.
    const a = new Float32Array([0, 1, 2, 3, 4]).subarray(1);
    const b = new Float32Array([0, 5, 6, 7, 8]).subarray(1);
    const c = new Float32Array([9, 1, 1, 1, 1]).subarray(1);
    found.sgemm({ a, b, c, m: 2, n: 2, k: 2, transposeA: false, transposeB: false, beta: 0 });
    assertEquals([...c], [19, 22, 43, 50]);
    found.sgemm({ a, b, c, m: 2, n: 2, k: 2, transposeA: true, transposeB: true, beta: 1 });
    assertEquals([...c], [19 + 23, 22 + 31, 43 + 34, 50 + 46]);
  } finally {
    found.close();
  }
});

Deno.test("matMul agrees with cpu for every transpose", { ignore }, async () => {
  for (const [m, k, n] of [[7, 13, 5], [300, 795, 200]]) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const a = () => random(transposeA ? [k, m] : [m, k], 1);
        const b = () => random(transposeB ? [n, k] : [k, n], 2);
        await assertAgrees(
          `matMul ${m}x${k}·${k}x${n} transposeA=${transposeA} transposeB=${transposeB}`,
          () => tf.matMul(a(), b(), transposeA, transposeB),
        );
      }
    }
  }
});

Deno.test("batched matMul broadcasts batch dims", { ignore }, async () => {
  await assertAgrees(
    "matMul [3,4,6,5]·[5,7]",
    () => tf.matMul(random([3, 4, 6, 5], 3), random([5, 7], 4)),
  );
  await assertAgrees(
    "matMul [1,6,5]·[4,7,5]^T",
    () => tf.matMul(random([1, 6, 5], 5), random([4, 7, 5], 6), false, true),
  );
  // cpu's kernel indexes such batches wrongly, so the reference broadcasts explicitly.
  const a = () => random([2, 1, 6, 5], 7);
  const b = () => random([3, 5, 4], 8);
  await assertAgrees(
    "matMul [2,1,6,5]·[3,5,4]",
    () => tf.matMul(a(), b()),
    () => tf.matMul(tf.tile(a(), [1, 3, 1, 1]), tf.tile(tf.expandDims(b(), 0), [2, 1, 1, 1])),
  );
});

Deno.test("fused matMul agrees with cpu for biases and activations", { ignore }, async () => {
  const [m, k, n] = [37, 60, 23];
  const biases: [string, () => tf.Tensor][] = [
    ["[n]", () => random([n], 11)],
    ["[1,n]", () => random([1, n], 12)],
    ["scalar", () => tf.scalar(0.25)],
    ["[m,n]", () => random([m, n], 13)],
  ];
  const activations = ["linear", "relu", "sigmoid", "relu6", "elu", "leakyrelu"] as const;
  for (const [biasShape, bias] of biases) {
    for (const activation of activations) {
      await assertAgrees(
        `fused.matMul bias ${biasShape} ${activation}`,
        () =>
          tf.fused.matMul({
            a: random([k, m], 9),
            b: random([k, n], 10),
            transposeA: true,
            bias: bias(),
            activation,
            leakyreluAlpha: 0.1,
          }),
      );
    }
  }
  // A whole [m, n] bias is the start of sgemm's output only for one matrix; over a batch of two
  // it is added to each.
  for (const [aShape, biasShape] of [[[2, k, m], [m, n]], [[k, m], [1, m, n]]]) {
    await assertAgrees(
      `fused.matMul a [${aShape}] bias [${biasShape}]`,
      () =>
        tf.fused.matMul({
          a: random(aShape, 18),
          b: random([k, n], 10),
          transposeA: true,
          bias: random(biasShape, 19),
        }),
    );
  }
  for (const alphaShape of [[n], [m, n]]) {
    await assertAgrees(
      `fused.matMul prelu alpha [${alphaShape}]`,
      () =>
        tf.fused.matMul({
          a: random([m, k], 14),
          b: random([n, k], 15),
          transposeB: true,
          bias: random([n], 16),
          activation: "prelu",
          preluActivationWeights: random(alphaShape, 17),
        }),
    );
  }
});

Deno.test("fused activations treat NaN, infinities and zeros as cpu does", { ignore }, async () => {
  const special = [NaN, -0, 0, Infinity, -Infinity, 7, -3, 0.5, -1e-30];
  const activations = ["linear", "relu", "relu6", "elu", "leakyrelu", "prelu", "sigmoid"] as const;
  for (const activation of activations) {
    // A column times [[1]]: the product is the column itself.
    const compute = () =>
      tf.fused.matMul({
        a: tf.tensor2d(special, [special.length, 1]),
        b: tf.tensor2d([1], [1, 1]),
        activation,
        preluActivationWeights: tf.tensor1d([0.3]),
      });
    const expected = await computeOn("cpu", compute);
    const actual = await computeOn(BLAS_BACKEND, compute);
    await tf.setBackend("cpu");
    // The sign of a zero may differ: cpu sums from +0.
    const comparable = (values: ArrayLike<number>) =>
      Array.from(values, (v) => v === 0 ? 0 : Number.isNaN(v) ? "NaN" : v);
    assertEquals(comparable(actual.values), comparable(expected.values), activation);
  }
});

/**
 * tfjs-core's npm bundle registers no gradients (the @tensorflow/tfjs union package does), so
 * the two that a gradient through (fused) matMul needs are registered here, as tfjs writes them.
 */
function registerMatMulGradients(): void {
  if (tf.getGradient(tf.Reshape) === undefined) {
    tf.registerGradient({
      kernelName: tf.Reshape,
      inputsToSave: ["x"],
      gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }),
    });
  }
  if (tf.getGradient(tf.BatchMatMul) !== undefined) return;
  tf.registerGradient({
    kernelName: tf.BatchMatMul,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b], attrs) => {
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      const g = dy as tf.Tensor;
      if (!transposeA && !transposeB) {
        return { a: () => tf.matMul(g, b, false, true), b: () => tf.matMul(a, g, true, false) };
      } else if (!transposeA && transposeB) {
        return { a: () => tf.matMul(g, b), b: () => tf.matMul(g, a, true, false) };
      } else if (transposeA && !transposeB) {
        return { a: () => tf.matMul(b, g, false, true), b: () => tf.matMul(a, g) };
      }
      return { a: () => tf.matMul(b, g, true, true), b: () => tf.matMul(g, a, true, true) };
    },
  });
}

Deno.test("gradients through matMul agree with cpu", { ignore }, async () => {
  registerMatMulGradients();
  const [m, k, n] = [64, 100, 30];
  const both = ([da, db]: tf.Tensor[]) => tf.concat([tf.reshape(da, [-1]), tf.reshape(db, [-1])]);
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      const a = () => random(transposeA ? [k, m] : [m, k], 18);
      const b = () => random(transposeB ? [n, k] : [k, n], 19);
      await assertAgrees(
        `tf.grads of matMul transposeA=${transposeA} transposeB=${transposeB}`,
        () =>
          both(
            tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, transposeA, transposeB))(
              [a(), b()],
              random([m, n], 20),
            ),
          ),
      );
    }
  }
  await assertAgrees("tf.grads of fused.matMul with bias", () =>
    both(
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.fused.matMul({ a, b, bias: random([n], 21), activation: "linear" })
      )([random([m, k], 22), random([k, n], 23)], random([m, n], 24)),
    ));
});

Deno.test("zero-size matrices work", { ignore }, async () => {
  await assertAgrees("matMul 0x5·5x3", () => tf.matMul(random([0, 5], 1), random([5, 3], 2)));
  await assertAgrees("matMul 4x5·5x0", () => tf.matMul(random([4, 5], 1), random([5, 0], 2)));
  await assertAgrees("matMul 4x0·0x3", () => tf.matMul(tf.zeros([4, 0]), tf.zeros([0, 3])));
  await assertAgrees(
    "fused.matMul 4x0·0x3 with bias and relu",
    () =>
      tf.fused.matMul({
        a: tf.zeros([4, 0]),
        b: tf.zeros([0, 3]),
        bias: random([3], 3),
        activation: "relu",
      }),
  );
});

Deno.test("int32 matMul stays exact and int32", { ignore }, async () => {
  await assertAgrees(
    "matMul int32",
    () => tf.matMul(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], "int32"), tf.ones([3, 2], "int32")),
  );
});

Deno.test("matMul leaks no tensors or data", { ignore }, async () => {
  await tf.setBackend(BLAS_BACKEND);
  const a = random([20, 30], 1);
  const b = random([30, 10], 2);
  const rowsBias = random([20, 10], 3);
  const tensorsBefore = tf.memory().numTensors;
  const dataBefore = tf.backend().numDataIds();
  for (let i = 0; i < 20; i++) {
    tf.matMul(a, b).dispose();
    tf.fused.matMul({ a, b, bias: rowsBias, activation: "prelu", preluActivationWeights: rowsBias })
      .dispose();
  }
  assertEquals(tf.memory().numTensors, tensorsBefore);
  assertEquals(tf.backend().numDataIds(), dataBefore);
  tf.dispose([a, b, rowsBias]);
  await tf.setBackend("cpu");
});
