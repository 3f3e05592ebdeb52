import { assert, assertEquals, assertThrows } from "@std/assert";
import { combineXY, negativeLabels, setBackend, tf } from "../lib/mod.ts";

await setBackend("cpu");

Deno.test("combineXY appends one-hot labels scaled by the batch maximum", () => {
  const x = tf.tensor2d([[0.1, 0.9], [0.5, -0.2]]);
  const combined = combineXY(x, [2, 0], 3);
  assertEquals(combined.shape, [2, 5]);
  const v = Array.from(combined.dataSync());
  const expected = [0.1, 0.9, 0, 0, 0.9, 0.5, -0.2, 0.9, 0, 0];
  v.forEach((value, i) => assert(Math.abs(value - expected[i]) < 1e-7, `at ${i}: ${value}`));
  tf.dispose([x, combined]);
});

Deno.test("overlay writes the label over the first numClasses inputs", () => {
  const x = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
  const combined = combineXY(x, [1, 0], 2, "overlay");
  assertEquals(combined.arraySync(), [[0, 8, 3, 4], [8, 0, 7, 8]]);
  tf.dispose([x, combined]);
});

Deno.test("combineXY rejects bad labels with a clear message", () => {
  const x = tf.tensor2d([[1, 2]]);
  assertThrows(() => combineXY(x, [10]), Error, "outside 0..9");
  assertThrows(() => combineXY(x, [1.5]), Error, "outside 0..9");
  assertThrows(() => combineXY(x, [1, 2]), Error, "one label per row");
  assertThrows(() => combineXY(x, [0], 3, "overlay"), Error, "overlay needs");
  x.dispose();
});

Deno.test("permuted negatives keep the label counts; about 1 in 10 stays correct", () => {
  const y = Int32Array.from({ length: 10_000 }, (_, i) => (i * 7) % 10);
  const permuted = negativeLabels(y, { seed: 3 });
  assertEquals([...permuted].sort(), [...y].sort());
  assertEquals(negativeLabels(y, { seed: 3 }), permuted);
  const same = permuted.filter((label, i) => label === y[i]).length / y.length;
  assert(same > 0.08 && same < 0.12, `accidentally correct: ${same}`);
});

Deno.test("wrong negatives are never correct and cover every wrong label", () => {
  const y = Int32Array.from({ length: 5000 }, (_, i) => i % 10);
  const wrong = negativeLabels(y, { mode: "wrong", seed: 4 });
  assert(wrong.every((label, i) => label !== y[i] && label >= 0 && label < 10));
  assertEquals(new Set(wrong.filter((_, i) => y[i] === 0)).size, 9);
  assertThrows(
    () => negativeLabels(y, { mode: "other" as "wrong" }),
    Error,
    'use "permute" or "wrong"',
  );
});
