import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  combineXY,
  hardNegativeLabels,
  hardNegativeProbabilities,
  negativeLabels,
  sampleLabels,
  seededRandom,
  setBackend,
  tf,
} from "../lib/mod.ts";

await setBackend("cpu");

Deno.test("combineXY appends one-hot labels scaled by the batch maximum", () => {
  const x = tf.tensor2d([[0.1, 0.9], [0.5, -0.2]]);
  const combined = combineXY(x, [2, 0], { numClasses: 3 });
  assertEquals(combined.shape, [2, 5]);
  const v = Array.from(combined.dataSync());
  const expected = [0.1, 0.9, 0, 0, 0.9, 0.5, -0.2, 0.9, 0, 0];
  v.forEach((value, i) => assert(Math.abs(value - expected[i]) < 1e-7, `at ${i}: ${value}`));
  tf.dispose([x, combined]);
});

Deno.test("labels may be a tensor, as the post passes them", () => {
  const x = tf.tensor2d([[0.1, 0.9], [0.5, -0.2]]);
  const y = tf.tensor1d([2, 0], "int32");
  const [fromTensor, fromArray] = [
    combineXY(x, y, { numClasses: 3 }),
    combineXY(x, [2, 0], { numClasses: 3 }),
  ];
  assertEquals(fromTensor.arraySync(), fromArray.arraySync());
  assertEquals(negativeLabels(y, { mode: "wrong", numClasses: 3, seed: 1 }).length, 2);
  tf.dispose([x, y, fromTensor, fromArray]);
});

Deno.test("overlay writes the label over the first numClasses inputs, at a set value", () => {
  const x = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
  const byMax = combineXY(x, [1, 0], { numClasses: 2, mode: "overlay" });
  assertEquals(byMax.arraySync(), [[0, 8, 3, 4], [8, 0, 7, 8]]);
  const byOne = combineXY(x, [1, 0], { numClasses: 2, mode: "overlay", value: 1 });
  assertEquals(byOne.arraySync(), [[0, 1, 3, 4], [1, 0, 7, 8]]);
  tf.dispose([x, byMax, byOne]);
});

Deno.test("the neutral label is value / numClasses on every label entry", () => {
  const x = tf.tensor2d([[0.3, 0.6, 0.25, 0.5]]);
  const neutral = combineXY(x, "neutral", { numClasses: 2, mode: "overlay", value: 1 });
  assertEquals(neutral.arraySync(), [[0.5, 0.5, 0.25, 0.5]]);
  const concat = combineXY(x, "neutral", { numClasses: 4 });
  assert(concat.arraySync()[0].slice(4).every((v) => Math.abs(v - 0.6 / 4) < 1e-7));
  tf.dispose([x, neutral, concat]);
});

Deno.test("combineXY rejects bad labels with a clear message", () => {
  const x = tf.tensor2d([[1, 2]]);
  assertThrows(() => combineXY(x, [10]), Error, "outside 0..9");
  assertThrows(() => combineXY(x, [1.5]), Error, "outside 0..9");
  assertThrows(() => combineXY(x, [1, 2]), Error, "one label per row");
  assertThrows(
    () => combineXY(x, [0], { numClasses: 3, mode: "overlay" }),
    Error,
    'use mode "concat"',
  );
  assertThrows(
    () => combineXY(x, undefined as unknown as number[]),
    Error,
    "labels must be an array",
  );
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
    'use "permute", "wrong" or "hard"',
  );
});

Deno.test("hard negatives: softmax of the scores with the true label ruled out", async () => {
  const scores = tf.tensor2d([[2, 0, Math.log(3)], [5, 5, 5]]);
  const p = hardNegativeProbabilities(scores, [0, 2]).arraySync();
  [[0, 0.25, 0.75], [0.5, 0.5, 0]].flat().forEach((v, i) =>
    assert(Math.abs(p.flat()[i] - v) < 1e-6, `${p.flat()[i]} vs ${v}`)
  );
  // Drawn with those probabilities, never the true label, the same for the same seed.
  const many = tf.tile(tf.tensor2d([[2, 0, Math.log(3)]]), [4000, 1]) as tf.Tensor2D;
  const drawn = await hardNegativeLabels(many, new Int32Array(4000), 5);
  assertEquals(drawn.filter((l) => l === 0).length, 0);
  const share = drawn.filter((l) => l === 2).length / drawn.length;
  assert(Math.abs(share - 0.75) < 0.03, `label 2 drawn ${share} of the time, expected 0.75`);
  assertEquals(await hardNegativeLabels(many, new Int32Array(4000), 5), drawn);
  await assertRejects(() => hardNegativeLabels(scores, [0, 3], 1), Error, "outside 0..2");
  tf.dispose([scores, many]);
});

Deno.test("sampleLabels falls back to the last possible label when rounding leaves a gap", () => {
  const always = () => 0.9999999;
  assertEquals(sampleLabels([0.3, 0.3, 0.3999, 0], 4, always), Int32Array.from([2]));
  assertEquals(sampleLabels([1, 0, 0], 3, seededRandom(1)), Int32Array.from([0]));
});
