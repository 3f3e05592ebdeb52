import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { setBackend, tf } from "../lib/mod.ts";
import { Adam } from "../lib/core/optim.ts";

/** torch.optim.Adam's update, by hand in float64, for one scalar parameter. */
function torchAdam(gradients: number[], lr: number, p = 0.5) {
  let [m, v] = [0, 0];
  gradients.forEach((g, i) => {
    const t = i + 1;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    p -= (lr / (1 - 0.9 ** t)) * m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
  });
  return p;
}

for (const backend of ["cpu", "wasm"]) { // cpu: the fused kernel; wasm: tfjs ops
  Deno.test(`Adam follows torch's formula on ${backend}`, async () => {
    await setBackend(backend);
    const gradients = [0.3, -1.2, 2e-9, 0.7, -0.05];
    const p = tf.variable(tf.fill([3], 0.5));
    const adam = new Adam([p], { learningRate: 0.03 });
    const before = tf.memory().numTensors;
    for (const g of gradients) tf.tidy(() => adam.step([tf.fill([3], g)]));
    assertEquals(tf.memory().numTensors, before, "no tensor left behind per step");
    const expected = torchAdam(gradients, 0.03);
    for (const value of await p.data()) assertAlmostEquals(value, expected, 1e-6);
    assertEquals(adam.steps, 5);
    adam.dispose();
    p.dispose();
  });
}

Deno.test("Adam's epsilon is torch's 1e-8: a tiny gradient still moves the parameter by ~lr", async () => {
  await setBackend("cpu");
  const p = tf.variable(tf.scalar(0));
  const adam = new Adam([p], { learningRate: 0.1 });
  tf.tidy(() => adam.step([tf.scalar(1e-7)]));
  // With tfjs's default epsilon (1e-7) the step would be halved.
  const value = (await p.data())[0];
  assert(value < -0.09, `step ${value}`);
  adam.dispose();
  p.dispose();
});
