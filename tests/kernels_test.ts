// Every fused kernel computes exactly its formula: the plain tf ops written once in lib/core/.
// Random inputs, each kernel against `formula` on the same backend: the JavaScript kernels on cpu
// and blas, the WGSL ones on webgpu (in CI, Mesa's lavapipe: a Vulkan device on the CPU).
import { assert } from "@std/assert";
import {
  adamUpdate,
  ffLossAndGradient,
  type Fusable,
  goodness,
  normalizeRows,
  setBackend,
  sgdUpdate,
  tf,
} from "../lib/mod.ts";
import { registerBlasBackend } from "../lib/backends/blas.ts";
import { ignoreUnless, webgpuMissing } from "./shared.ts";

/** max|a - b| <= tolerance · max(1, max|b|), for every output. */
async function assertClose(
  actual: tf.Tensor[],
  expected: tf.Tensor[],
  tolerance: number,
  what: string,
) {
  assert(actual.length === expected.length, `${what}: ${actual.length} outputs`);
  for (const [i, a] of actual.entries()) {
    assert(
      tf.util.arraysEqual(a.shape, expected[i].shape),
      `${what}: output ${i} has shape [${a.shape}], not [${expected[i].shape}]`,
    );
    const [x, y] = [await a.data(), await expected[i].data()];
    assert(x.length === y.length, `${what}: output ${i} has ${x.length} values, not ${y.length}`);
    // NaN fails: Math.max of a NaN is NaN, and no comparison with NaN holds.
    let [scale, worst] = [1, 0];
    for (let j = 0; j < x.length; j++) {
      scale = Math.max(scale, Math.abs(y[j]));
      worst = Math.max(worst, Math.abs(x[j] - y[j]));
    }
    assert(worst <= tolerance * scale, `${what}: output ${i} differs by ${worst} (scale ${scale})`);
  }
}

// deno-lint-ignore no-explicit-any
type AnyFusable = Fusable<any, any, tf.Tensor | tf.Tensor[]>;

const random = (shape: number[], seed: number, low = -2, high = 2) =>
  tf.randomUniform(shape, low, high, "float32", seed);

/** Each fusable formula with inputs and attributes to try it on. */
const cases: [string, AnyFusable, () => [tf.NamedTensorMap, tf.NamedAttrMap]][] = [
  ...(["mean", "sum"] as const).map((
    kind,
  ): [string, AnyFusable, () => [tf.NamedTensorMap, tf.NamedAttrMap]] => [
    `goodness (${kind})`,
    goodness.kernel,
    () => [{ h: random([37, 53], 1) }, { kind }],
  ]),
  ...(["l2", "rms"] as const).map((
    kind,
  ): [string, AnyFusable, () => [tf.NamedTensorMap, tf.NamedAttrMap]] => [
    `normalizeRows (${kind})`,
    normalizeRows.kernel,
    () => [{ x: tf.concat([random([36, 53], 2), tf.zeros([1, 53])]) }, { kind }],
  ]),
  ...([["mean", 2], ["sum", 53]] as const).map((
    [kind, threshold],
  ): [string, AnyFusable, () => [tf.NamedTensorMap, tf.NamedAttrMap]] => [
    `ffLossAndGradient (${kind})`,
    ffLossAndGradient.kernel,
    () => [{ z: random([40, 53], 3, -3, 3) }, { numPositive: 17, threshold, kind }],
  ]),
  // More rows than one dispatch dimension holds (65,535 workgroups), as the post's 100,000: the
  // webgpu backend spreads the row programs' workgroups over two dimensions.
  ["normalizeRows (l2), 70,000 rows", normalizeRows.kernel, () => [
    { x: random([70_000, 3], 11) },
    { kind: "l2" },
  ]],
  ["ffLossAndGradient (mean), 70,000 rows", ffLossAndGradient.kernel, () => [
    { z: random([70_000, 3], 12, -3, 3) },
    { numPositive: 30_000, threshold: 2, kind: "mean" },
  ]],
  ["adamUpdate", adamUpdate, () => [
    {
      p: random([13, 7], 4),
      m: random([13, 7], 5),
      v: random([13, 7], 6, 0, 1),
      g: random([13, 7], 7),
    },
    { learningRate: 0.03, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 3 },
  ]],
  ["sgdUpdate", sgdUpdate, () => [
    { p: random([13, 7], 8), v: random([13, 7], 9), g: random([13, 7], 10) },
    { learningRate: 0.1, momentum: 0.9, weightDecay: 0.003 },
  ]],
];

const webgpu = await webgpuMissing();
const backends: [string, boolean][] = [
  ["cpu", false],
  ...(registerBlasBackend().ok ? [["blas", false] as [string, boolean]] : []),
  ["webgpu", ignoreUnless(webgpu === undefined, `the webgpu backend (${webgpu})`)],
];
for (const [backend, ignore] of backends) {
  Deno.test({
    name: `every fused kernel on ${backend} equals its formula on random inputs`,
    ignore,
    async fn(t) {
      await setBackend(backend);
      for (const [name, formula, make] of cases) {
        await t.step(name, async () => {
          assert(
            tf.getKernel(formula.kernelName, backend) !== undefined,
            `${backend} fuses ${name}`,
          );
          const before = tf.memory().numTensors;
          // Made in a scope: the intermediates of making an input (a concat's parts) are freed.
          let attrs: tf.NamedAttrMap = {};
          const inputs = tf.tidy(() => {
            const [made, madeAttrs] = make();
            attrs = madeAttrs;
            return made;
          }) as tf.NamedTensorMap;
          const fused = [formula(inputs, attrs)].flat();
          const plain = [tf.tidy(() => formula.formula(inputs, attrs))].flat();
          try {
            await assertClose(fused, plain, 2e-6, name);
          } finally {
            tf.dispose([...fused, ...plain, ...Object.values(inputs)] as tf.Tensor[]);
          }
          assert(tf.memory().numTensors === before, `${name} on ${backend} leaves tensors behind`);
        });
      }
      await setBackend("cpu");
    },
  });
}
