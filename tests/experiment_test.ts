import { assert, assertEquals, assertLess, assertRejects, assertThrows } from "@std/assert";
import {
  checkRecipe,
  DATASETS,
  DEFAULT_RECIPE,
  errorRates,
  FFNN,
  INGREDIENTS,
  loadMnistNpmSubset,
  type Mnist,
  normalisePixels,
  pickAll,
  type Recipe,
  recipe,
  RECIPES,
  runExperiment,
  type RunOptions,
  setBackend,
  splitValidation,
  tf,
  withPixels,
} from "../lib/mod.ts";

/** A recipe's settings, without what only says how long or on what it runs. */
function settings(r: Recipe) {
  const { name: _n, description: _d, epochs: _e, trainSize: _t, seed: _s, ...rest } = r;
  return rest;
}

Deno.test("the ingredients, applied to the post's recipe one by one, give Hinton's", () => {
  let r = recipe("post");
  const steps: Recipe[] = [];
  for (const { changes } of INGREDIENTS) {
    r = { ...r, ...changes };
    checkRecipe(r);
    steps.push(r);
  }
  assertEquals(settings(steps.at(-2)!), settings(RECIPES.hinton));
  assertEquals(settings(steps.at(-1)!), settings(RECIPES["hinton-shift"]));
  // Every step changes something.
  INGREDIENTS.forEach(({ changes }, i) => {
    const before = i === 0 ? recipe("post") : steps[i - 1];
    const changed = Object.entries(changes).filter(([key, value]) =>
      JSON.stringify(before[key as keyof Recipe]) !== JSON.stringify(value)
    );
    assertEquals(changed.length > 0, true, INGREDIENTS[i].name);
  });
});

Deno.test("recipes are checked in their own field names", () => {
  assertThrows(() => recipe("post", { epochs: 0 }), Error, "epochs must be a positive integer");
  assertThrows(() => recipe("post", { shift: 1 }), Error, "shift works with mini-batches only");
  assertThrows(() => recipe("hinton", { readout: null }), Error, 'negatives "hard" are drawn');
  assertThrows(() => recipe("hinton", { layers: [] }), Error, "layers must list");
  assertThrows(() => recipe("nope"), Error, 'unknown recipe "nope": use one of fast, post');
  // A typo is refused, naming the field meant, not ignored.
  assertThrows(
    () => recipe("fast", { layer: [10] } as Partial<Recipe>),
    Error,
    'unknown recipe setting "layer": did you mean "layers"?',
  );
  assertThrows(
    () => checkRecipe({ ...recipe("fast"), learningrate: 0.1 } as Recipe),
    Error,
    'did you mean "learningRate"?',
  );
});

Deno.test("runExperiment refuses an unknown option, and a dataset the data contradicts, before training", async () => {
  const subset = await loadMnistNpmSubset();
  assertEquals(subset.dataset, "mnist");
  const r = recipe("fast", { epochs: 1, trainSize: 100 });
  await assertRejects(
    () => runExperiment(subset, r, { datset: "mnist" } as RunOptions),
    Error,
    'unknown runExperiment option "datset": did you mean "dataset"?',
  );
  await assertRejects(
    () => runExperiment(subset, r, { dataset: "fashion-mnist" }),
    Error,
    'dataset "fashion-mnist" contradicts the data, which is mnist',
  );
  await assertRejects(
    () => runExperiment(subset, { ...r, readout: { fromLayer: 0, learningRate: NaN } }),
    Error,
    "readout.learningRate must be a number from 0, got NaN",
  );
});

Deno.test("the dataset travels with the data: its own statistics rescale its pixels, unasked", () => {
  const bytes = Uint8Array.from({ length: 784 * 2 }, (_, i) => (i * 7) % 256);
  const split = (images: Float32Array) => ({ images, labels: Int32Array.from([1, 2]), count: 2 });
  const standard = normalisePixels(bytes, "standard", DATASETS["fashion-mnist"]);
  const fashion: Mnist = {
    train: split(standard),
    test: split(standard),
    source: "two made-up Fashion-MNIST images",
    pixels: "standard",
    isSubset: false,
    dataset: "fashion-mnist",
  };
  const unit = withPixels(fashion, "unit");
  assertEquals(unit.train.images, normalisePixels(bytes, "unit"));
  assertEquals(unit.dataset, "fashion-mnist");
  assertThrows(() => withPixels(fashion, "unit", "mnist"), Error, "contradicts the data");
});

Deno.test("a trained result predicts on the images as they were loaded: the natural call gives the errors the run measured", async () => {
  await setBackend("auto");
  const subset = await loadMnistNpmSubset(); // standard pixels; the recipe trains on unit ones
  const r = recipe("fast", { layers: [64, 64], epochs: 1, trainSize: 1000 });
  const dir = await Deno.makeTempDir();
  const began = performance.now();
  const result = await runExperiment(subset, r, { validationSize: 1000, checkpoint: dir });
  const whole = (performance.now() - began) / 1000;
  // Where the call's time went: every stage measured, none negative, together the whole call.
  const stages = Object.values(result.stages);
  assertEquals(Object.keys(result.stages), ["data", "training", "checkpoints", "scoring"]);
  assert(stages.every((s) => s > 0), JSON.stringify(result.stages));
  const sum = stages.reduce((a, b) => a + b);
  assert(sum <= whole && sum > 0.9 * whole, `${sum} of ${whole}`);
  assert(result.trainSeconds <= result.stages.training, JSON.stringify(result));
  await Deno.remove(dir, { recursive: true });
  const { x, y } = pickAll(subset.test);
  const errors = await errorRates(result.net, x, y);
  // And those are the errors on the images scaled as the network trained, by a copy of it that
  // takes them as they are.
  const net = result.net as FFNN;
  const { pixels: _, ...options } = net.options;
  const plain = new FFNN(net.dims, options);
  plain.variables.forEach((variable, i) => variable.assign(net.variables[i]));
  const asTrained = pickAll(withPixels(subset, "unit").test);
  const plainErrors = await errorRates(plain, asTrained.x, asTrained.y);
  // Scored as the plain call scores them, on a copy of the validation images: the same errors.
  const validation = pickAll(splitValidation(subset, 1000).validation);
  const validationErrors = await errorRates(result.net, validation.x, validation.y);
  for (const readout of result.net.readouts) {
    assertEquals(validationErrors[readout], result.errors[readout]!.validation, readout);
    assertEquals(errors[readout], result.errors[readout]!.test, readout);
    assertEquals(plainErrors[readout], result.errors[readout]!.test, readout);
  }
  tf.dispose([x, asTrained.x, validation.x]);
  result.net.dispose();
  plain.dispose();
});

Deno.test("the default recipe runs on the 10,000-digit npm fallback as it is, no flag changed", async () => {
  await setBackend("auto");
  const subset = await loadMnistNpmSubset();
  const result = await runExperiment(subset, recipe(DEFAULT_RECIPE, { epochs: 1 }));
  // All but the validation sixth of its 8,000 training digits: no size that only MNIST has.
  assertEquals(result.recipe.trainSize, 8000 - Math.floor(8000 / 6));
  assertLess(result.testError, 0.5);
  result.net.dispose();
});
