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
import type { MathBackendCPU } from "../lib/deps.ts";
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
  ...([["mean", 2, 0], ["sum", 53, 0], ["sum", 53, 0.03]] as const).map((
    [kind, threshold, peer],
  ): [string, AnyFusable, () => [tf.NamedTensorMap, tf.NamedAttrMap]] => [
    `ffLossAndGradient (${kind}${peer ? ", peer normalisation" : ""})`,
    ffLossAndGradient.kernel,
    () => [
      {
        z: random([40, 53], 3, -3, 3),
        ...(peer ? { meanActivity: random([53], 4, 0, 1) } : {}),
      },
      { numPositive: 17, threshold, kind, peer },
    ],
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

Deno.test({
  name:
    "optimiser updates that overwrite their inputs: same numbers, and never what someone else holds",
  ignore: !registerBlasBackend().ok,
  async fn() {
    await setBackend("blas");
    // 300x300 floats: pooled, so the update may write into the parameter's own memory.
    const start = () => random([300, 300], 11);
    const g = random([300, 300], 12);
    const attrs = { learningRate: 0.1, momentum: 0.9, weightDecay: 0.003 };
    const expected = tf.tidy(() =>
      sgdUpdate.formula({ p: start(), v: tf.zeros([300, 300]), g }, attrs)
    );

    const p = tf.variable(start());
    const v = tf.variable(tf.zeros([300, 300]));
    const held = tf.clone(p); // shares p's memory: it must keep its values
    const heldBefore = Array.from(held.dataSync());
    tf.tidy(() => {
      const [p1, v1] = sgdUpdate({ p, v, g }, { ...attrs, overwrite: true });
      p.assign(p1);
      v.assign(v1);
    });
    // A float or two apart at most: blas rounds (1 - lr·λ)p - lr·v, the formula p - lr(v + λp).
    await assertClose([p, v], expected, 2e-6, "shared: fresh outputs");
    assert(
      Array.from(held.dataSync()).every((x, i) => x === heldBefore[i]),
      "the clone kept its values",
    );
    held.dispose();

    // As in training: the optimiser's own variables, nothing else holding their memory. The
    // first step moves them into pooled memory; from the second on, the update overwrites it.
    const [alone, velocity] = tf.tidy(
      () => [tf.variable(start()), tf.variable(tf.zeros([300, 300]))],
    );
    const step = () =>
      tf.tidy(() => {
        const [p1, v1] = sgdUpdate({ p: alone, v: velocity, g }, { ...attrs, overwrite: true });
        alone.assign(p1);
        velocity.assign(v1);
      });
    const memory = (t: tf.Tensor) =>
      ((tf.backend() as MathBackendCPU).data.get(t.dataId)!.values as Float32Array).buffer;
    step();
    const twice = tf.tidy(() => {
      const [p1, v1] = sgdUpdate.formula({ p: expected[0], v: expected[1], g }, attrs);
      return [p1, v1];
    });
    const before = memory(alone);
    step();
    assert(memory(alone) === before, "the update wrote into the parameter's own memory");
    await assertClose([alone, velocity], twice, 2e-6, "alone: overwritten in place");
    tf.dispose(twice);
    tf.dispose([p, v, g, alone, velocity, ...expected]);
  },
});
