import { assertEquals, assertLess, assertThrows } from "@std/assert";
import {
  checkRecipe,
  DEFAULT_RECIPE,
  INGREDIENTS,
  loadMnistNpmSubset,
  type Recipe,
  recipe,
  RECIPES,
  runExperiment,
  setBackend,
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
