// Forward-Forward really learns MNIST: short runs on real digits end far below chance (0.9).
import { assertEquals, assertLess } from "@std/assert";
import { loadMnist, type Recipe, recipe, runExperiment, setBackend, tf } from "../lib/mod.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");

const runs: [string, Partial<Recipe>, number][] = [
  ["post", { trainSize: 5000, epochs: 3, batchSize: 50, negatives: "wrong" }, 0.5],
  ["hinton", { trainSize: 3000, epochs: 2, layers: [300, 300, 300] }, 0.3],
];
for (const [name, overrides, below] of runs) {
  Deno.test({
    name: `a short run of recipe "${name}" on real MNIST digits beats chance by far`,
    ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
    async fn() {
      await setBackend("auto");
      const mnist = await loadMnist(mnistDir!);
      const before = tf.memory().numTensors;
      const result = await runExperiment(mnist, recipe(name, overrides));
      console.log(
        `${name}: ${JSON.stringify(result.errors)}, ${
          result.trainSeconds.toFixed(1)
        } s of training`,
      );
      assertLess(result.testError, below);
      assertLess(result.errors[result.readout]!.train, below);
      assertEquals(result.losses.every((l) => l.length === overrides.epochs), true);
      result.net.dispose();
      assertEquals(tf.memory().numTensors, before, "the run left tensors behind");
    },
  });
}
