import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { randperm, seededRandom, uniform } from "../lib/core/random.ts";

Deno.test("the same seed gives the same numbers, another seed others", () => {
  assertEquals(uniform(5, 0, 1, 3), uniform(5, 0, 1, 3));
  assertNotEquals(uniform(5, 0, 1, 3), uniform(5, 0, 1, 4));
  const random = seededRandom(9);
  const draws = Array.from({ length: 1000 }, random);
  assert(draws.every((u) => u >= 0 && u < 1));
  const mean = draws.reduce((a, b) => a + b) / draws.length;
  assert(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
});

Deno.test("randperm is a permutation and depends on the seed", () => {
  const order = randperm(100, 1);
  assertEquals([...order].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assertEquals(randperm(100, 1), order);
  assertNotEquals(randperm(100, 2), order);
});

Deno.test("uniform stays within its bounds", () => {
  const values = uniform(10_000, -0.25, 0.25, 5);
  assert(values.every((v) => v >= -0.25 && v < 0.25));
  assertThrows(() => seededRandom(NaN), Error, "seed");
});
