// The layer and network against float64 PyTorch values of the post's formulas
// (../shared/conformance/ff_golden.json), on every backend that runs here.
import { assert, assertEquals } from "@std/assert";
import { combineXY, FFNN, Layer, setBackend, tf } from "../lib/mod.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const goldenPath = sharedPath("conformance/ff_golden.json");
const golden = goldenPath ? JSON.parse(Deno.readTextFileSync(goldenPath)) : { cases: [] };

type Nested = number | Nested[];

/** max|actual - expected| <= tolerance * max|expected|: error relative to the array's scale. */
function assertClose(
  actual: tf.Tensor | number[],
  expected: Nested,
  tolerance: number,
  what: string,
) {
  const a = Array.isArray(actual) ? actual : Array.from(actual.dataSync());
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

for (const backend of ["cpu", "wasm", "blas"]) {
  Deno.test({
    name: `conformance with PyTorch golden values on ${backend}`,
    ignore: ignoreUnless(goldenPath, "../shared/conformance/ff_golden.json"),
    async fn(t) {
      await setBackend(backend);
      for (const c of golden.cases) {
        await t.step(`n=${c.n} d=${c.d} classes=${c.classes} steps=${c.steps}`, async () => {
          const before = tf.memory().numTensors;
          const x = tf.tensor2d(c.x);
          const yNegative = c.perm.map((i: number) => c.y[i]);
          const xPositive = combineXY(x, c.y, { numClasses: c.classes });
          const xNegative = combineXY(x, yNegative, { numClasses: c.classes });
          assertClose(xPositive, c.x_positive, ONE_PASS, "combineXY positive");
          assertClose(xNegative, c.x_negative, ONE_PASS, "combineXY negative");

          const options = { threshold: c.threshold, ...c.init[0] };
          const [inFeatures, outFeatures] = [c.x_positive[0].length, c.init[0].weight.length];
          const layer = new Layer(inFeatures, outFeatures, { ...options, epochs: 1 });
          const l0 = c.layer0;
          tf.tidy(() => {
            assertClose(layer.forward(xPositive), l0.h_positive, ONE_PASS, "forward positive");
            assertClose(layer.forward(xNegative), l0.h_negative, ONE_PASS, "forward negative");
            assertClose(layer.goodness(xPositive), l0.goodness_positive, ONE_PASS, "goodness +");
            assertClose(layer.goodness(xNegative), l0.goodness_negative, ONE_PASS, "goodness -");
            assertClose(layer.loss(xPositive, xNegative), l0.loss, ONE_PASS, "loss");
            const gradients = layer.gradients(xPositive, xNegative);
            assertClose(gradients.loss, l0.loss, ONE_PASS, "loss (fused)");
            assertClose(gradients.weight, l0.grad_weight, ONE_PASS, "grad weight");
            assertClose(gradients.bias, l0.grad_bias, ONE_PASS, "grad bias");
          });
          tf.dispose(await layer.train(xPositive, xNegative));
          assertClose(layer.weight, l0.after_1_step.weight, ONE_STEP, "weight after 1 step");
          assertClose(layer.bias, l0.after_1_step.bias, ONE_STEP, "bias after 1 step");
          layer.dispose();

          const many = new Layer(inFeatures, outFeatures, { ...options, epochs: c.steps });
          tf.dispose(await many.train(xPositive, xNegative));
          const k = l0.after_k_steps;
          assertClose(many.weight, k.weight, MANY_STEPS, `weight after ${c.steps} steps`);
          assertClose(many.bias, k.bias, MANY_STEPS, `bias after ${c.steps} steps`);
          assertClose(many.losses, k.losses, ONE_STEP, "losses");
          many.dispose();

          const net = new FFNN([inFeatures, ...c.hidden], {
            epochs: c.steps,
            threshold: c.threshold,
            numClasses: c.classes,
            layers: c.init,
          });
          await net.train(xPositive, xNegative);
          for (const [i, trained] of c.network.trained.entries()) {
            assertClose(net.layers[i].weight, trained.weight, MANY_STEPS, `layer ${i} weight`);
            assertClose(net.layers[i].bias, trained.bias, MANY_STEPS, `layer ${i} bias`);
            assertClose(net.losses[i], c.network.losses[i], ONE_STEP, `layer ${i} losses`);
          }
          const goodness = net.goodnessPerLabel(x);
          assertClose(goodness, c.network.goodness_per_label, MANY_STEPS, "goodness per label");
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
