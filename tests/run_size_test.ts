import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { resolve } from "node:path";
import { runSize, trimTestSplit } from "../lib/notebook.ts";
import { recipe } from "../lib/experiment.ts";
import type { Mnist } from "../lib/data/mod.ts";

function env(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

Deno.test("runSize picks quick, default or full from FF_QUICK and FF_FULL", () => {
  assertEquals(runSize(env({})).name, "default");
  assertEquals(runSize(env({ FF_QUICK: "1" })).name, "quick");
  assertEquals(runSize(env({ FF_QUICK: "true", FF_FULL: "0" })).name, "quick");
  assertEquals(runSize(env({ FF_FULL: "1" })).name, "full");
  assertEquals(runSize(env({ FF_QUICK: "", FF_FULL: "false" })).name, "default");
});

Deno.test("runSize: quick is smaller than default, full is the post's recipe", () => {
  const quick = runSize(env({ FF_QUICK: "1" }));
  const standard = runSize(env({}));
  const full = runSize(env({ FF_FULL: "1" }));
  assert(quick.trainSize * quick.epochs < standard.trainSize * standard.epochs);
  assert(quick.testSize <= standard.testSize);
  assertEquals([full.trainSize, full.epochs, full.testSize], [50_000, 1000, 10_000]);
  for (const size of [quick, standard, full]) {
    assert(size.miniBatch.batchSize <= (size.miniBatch.trainSize ?? 50_000), size.name);
  }
});

Deno.test("runSize rejects unclear or conflicting settings", () => {
  assertThrows(() => runSize(env({ FF_QUICK: "yes" })), Error, "FF_QUICK must be 1 (on) or 0");
  assertThrows(
    () => runSize(env({ FF_QUICK: "1", FF_FULL: "1" })),
    Error,
    "set only one of them",
  );
});

Deno.test("describe names the run size and its numbers", () => {
  const text = runSize(env({})).describe();
  assertStringIncludes(text, 'run size "default"');
  assertStringIncludes(text, "FF_FULL=1");
  const quick = runSize(env({ FF_QUICK: "1" }));
  assertStringIncludes(quick.describe(), `${quick.epochs} epochs per layer`);
  assertStringIncludes(runSize(env({ FF_FULL: "1" })).describe(), "50,000 training images");
  // Notebook 05's mini-batch variant and 06's recipes, both: the line must not contradict either.
  assertStringIncludes(text, "10,000 × 6 epochs or 50,000 × 15 epochs (mini-batches)");
  assertStringIncludes(runSize(env({ FF_FULL: "1" })).describe(), ", 50,000 × 60 epochs (mini");
});

Deno.test("mnistDir comes from FF_MNIST_DIR, else data/mnist beside lib/", () => {
  assertEquals(runSize(env({ FF_MNIST_DIR: "/somewhere/mnist" })).mnistDir, "/somewhere/mnist");
  const dir = runSize(env({})).mnistDir;
  assertEquals(resolve(dir), new URL("../data/mnist", import.meta.url).pathname);
  assert(!dir.startsWith("/"), `${dir} is relative to the working directory`);
});

Deno.test("size.recipe is a named recipe at the run size", () => {
  const size = runSize(env({ FF_QUICK: "1" }));
  assertEquals(size.recipe("post", { label: "overlay" }), {
    ...recipe("post"),
    trainSize: size.trainSize,
    epochs: size.epochs,
    label: "overlay",
  });
  assertEquals(size.recipe("hinton"), {
    ...recipe("hinton"),
    trainSize: size.paper.trainSize,
    epochs: size.paper.epochs,
    layers: [100, 100, 100], // quick runs narrow Hinton's 1000-wide layers
  });
  assertEquals(runSize(env({})).recipe("hinton").layers, [1000, 1000, 1000]);
  assertEquals(size.fit(recipe("post")).epochs, size.epochs);
  assertThrows(() => size.recipe("nope"), Error, "unknown recipe");
});

Deno.test("the mini-batch size spread over a full-batch recipe trains on all images", () => {
  for (const vars of [{}, { FF_FULL: "1" }] as Record<string, string>[]) {
    const size = runSize(env(vars));
    const config = size.recipe("post", { ...size.miniBatch });
    assertStrictEquals(config.trainSize, undefined, JSON.stringify(vars));
    assertEquals(config.batchSize, 100);
  }
  const quick = runSize(env({ FF_QUICK: "1" }));
  assertEquals(quick.recipe("post", { ...quick.miniBatch }).trainSize, 500);
});

Deno.test("trimTestSplit keeps the first images and labels of the test split", () => {
  const split = (count: number) => ({
    images: Float32Array.from({ length: count * 784 }, (_, i) => i),
    labels: Int32Array.from({ length: count }, (_, i) => i % 10),
    count,
  });
  const mnist: Mnist = {
    train: split(3),
    test: split(5),
    source: "test",
    pixels: "standard",
    isSubset: false,
  };
  const trimmed = trimTestSplit(mnist, 2);
  assertEquals(trimmed.test.count, 2);
  assertEquals(Array.from(trimmed.test.labels), [0, 1]);
  assertEquals(trimmed.test.images.length, 2 * 784);
  assertEquals(trimmed.test.images[784], 784);
  assertStrictEquals(trimmed.train, mnist.train);
  assertStrictEquals(trimTestSplit(mnist, 9), mnist);
  assertThrows(() => trimTestSplit(mnist, 0), Error, "positive integer");
});

Deno.test("report prints its lines, and only them, outside Jupyter", async () => {
  const printed: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => printed.push(...args);
  try {
    await runSize(env({ FF_QUICK: "1" })).report("test error: 0.1234", "second line");
  } finally {
    console.log = log;
  }
  // The run size is said once, by setup(), not after every result (issue #21).
  assertEquals(printed, ["test error: 0.1234\nsecond line"]);
});
