// The layer and network against float64 PyTorch values of the post's formulas
// (../shared/conformance/ff_golden.json), on every backend that runs here: webgpu too where an
// adapter answers (in CI, Mesa's lavapipe: a Vulkan device on the CPU). Every tensor is read
// asynchronously, as WebGPU requires.
import { assert, assertEquals } from "@std/assert";
import { combineXY, FFNN, Layer, setBackend, tf } from "../lib/mod.ts";
import { ignoreUnless, sharedPath, webgpuMissing } from "./shared.ts";

const goldenPath = sharedPath("conformance/ff_golden.json");
const golden = goldenPath ? JSON.parse(Deno.readTextFileSync(goldenPath)) : { cases: [] };

type Nested = number | Nested[];

/** max|actual - expected| <= tolerance * max|expected|: error relative to the array's scale. */
async function assertClose(
  actual: tf.Tensor | number[],
  expected: Nested,
  tolerance: number,
  what: string,
) {
  const a = Array.isArray(actual) ? actual : Array.from(await actual.data());
  const e = [expected].flat(Infinity as 1) as number[];
  assertEquals(a.length, e.length, `${what}: size`);
  const scale = Math.max(...e.map(Math.abs), 1e-12);
  const worst = Math.max(...a.map((v, i) => Math.abs(v - e[i])));
  assert(
    worst <= tolerance * scale,
    `${what}: max error ${worst.toExponential(2)} > ${tolerance} x ${scale.toExponential(2)}`,
  );
}

// Tolerances from ../shared/conformance/README.md: ~1e-5 for one pass, ~1e-3 after many Adam steps.
const ONE_PASS = 1e-5;
const ONE_STEP = 1e-4;
const MANY_STEPS = 1e-3;

const webgpu = await webgpuMissing();
for (const backend of ["cpu", "wasm", "blas", "webgpu"]) {
  Deno.test({
    name: `conformance with PyTorch golden values on ${backend}`,
    ignore: ignoreUnless(goldenPath, "../shared/conformance/ff_golden.json") ||
      (backend === "webgpu" && ignoreUnless(webgpu === undefined, `webgpu (${webgpu})`)),
    async fn(t) {
      await setBackend(backend);
      for (const c of golden.cases) {
        await t.step(`n=${c.n} d=${c.d} classes=${c.classes} steps=${c.steps}`, async () => {
          const before = tf.memory().numTensors;
          const x = tf.tensor2d(c.x);
          const yNegative = c.perm.map((i: number) => c.y[i]);
          const xPositive = combineXY(x, c.y, { numClasses: c.classes });
          const xNegative = combineXY(x, yNegative, { numClasses: c.classes });
          await assertClose(xPositive, c.x_positive, ONE_PASS, "combineXY positive");
          await assertClose(xNegative, c.x_negative, ONE_PASS, "combineXY negative");

          const options = { threshold: c.threshold, ...c.init[0] };
          const [inFeatures, outFeatures] = [c.x_positive[0].length, c.init[0].weight.length];
          const layer = new Layer(inFeatures, outFeatures, { ...options, epochs: 1 });
          const l0 = c.layer0;
          const checks: [tf.Tensor, Nested, string][] = tf.tidy(() => {
            const gradients = layer.gradients(xPositive, xNegative);
            return [
              [layer.forward(xPositive), l0.h_positive, "forward positive"],
              [layer.forward(xNegative), l0.h_negative, "forward negative"],
              [layer.goodness(xPositive), l0.goodness_positive, "goodness +"],
              [layer.goodness(xNegative), l0.goodness_negative, "goodness -"],
              [layer.loss(xPositive, xNegative), l0.loss, "loss"],
              [gradients.loss, l0.loss, "loss (fused)"],
              [gradients.weight, l0.grad_weight, "grad weight"],
              [gradients.bias, l0.grad_bias, "grad bias"],
            ];
          });
          try {
            for (const [value, expected, what] of checks) {
              await assertClose(value, expected, ONE_PASS, what);
            }
          } finally {
            tf.dispose(checks.map(([value]) => value));
          }
          tf.dispose(await layer.train(xPositive, xNegative));
          await assertClose(layer.weight, l0.after_1_step.weight, ONE_STEP, "weight after 1 step");
          await assertClose(layer.bias, l0.after_1_step.bias, ONE_STEP, "bias after 1 step");
          layer.dispose();

          const many = new Layer(inFeatures, outFeatures, { ...options, epochs: c.steps });
          tf.dispose(await many.train(xPositive, xNegative));
          const k = l0.after_k_steps;
          await assertClose(many.weight, k.weight, MANY_STEPS, `weight after ${c.steps} steps`);
          await assertClose(many.bias, k.bias, MANY_STEPS, `bias after ${c.steps} steps`);
          await assertClose(many.losses, k.losses, ONE_STEP, "losses");
          many.dispose();

          const net = new FFNN([inFeatures, ...c.hidden], {
            epochs: c.steps,
            threshold: c.threshold,
            numClasses: c.classes,
            layers: c.init,
          });
          await net.train(xPositive, xNegative);
          for (const [i, trained] of c.network.trained.entries()) {
            await assertClose(
              net.layers[i].weight,
              trained.weight,
              MANY_STEPS,
              `layer ${i} weight`,
            );
            await assertClose(net.layers[i].bias, trained.bias, MANY_STEPS, `layer ${i} bias`);
            await assertClose(net.losses[i], c.network.losses[i], ONE_STEP, `layer ${i} losses`);
          }
          const goodness = net.goodnessPerLabel(x);
          await assertClose(
            goodness,
            c.network.goodness_per_label,
            MANY_STEPS,
            "goodness per label",
          );
          const predicted = net.predict(x);
          assertEquals(Array.from(await predicted.data()), c.network.prediction, "prediction");
          tf.dispose([goodness, predicted, x, xPositive, xNegative]);
          net.dispose();
          assertEquals(tf.memory().numTensors, before, "tensors leaked");
        });
      }
    },
  });
}
