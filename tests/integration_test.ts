// Forward-Forward really learns MNIST: a short run on real digits ends far below chance (0.9).
import { assertEquals, assertLess } from "@std/assert";
import { DEFAULT_CONFIG, loadMnist, runExperiment, setBackend, tf } from "../lib/mod.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");

Deno.test({
  name: "a short mini-batch run on 5,000 real MNIST digits beats chance by far",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    await setBackend("auto");
    const mnist = await loadMnist(mnistDir!);
    const before = tf.memory().numTensors;
    const result = await runExperiment(mnist, {
      ...DEFAULT_CONFIG,
      trainSize: 5000,
      epochs: 3,
      batchSize: 50,
      negatives: "wrong",
    });
    console.log(
      `5,000 images, 3 epochs of batches of 50: training error ${result.trainError}, test error ${result.testError} (${
        result.trainSeconds.toFixed(1)
      } s)`,
    );
    assertLess(result.testError, 0.5);
    assertLess(result.trainError, 0.5);
    assertEquals(result.losses.map((l) => l.length), [3, 3]);
    result.net.dispose();
    assertEquals(tf.memory().numTensors, before, "the run left tensors behind");
  },
});
