import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  type EpochProgress,
  formatDuration,
  type ProgressOptions,
  progressReporter,
  remainingMs,
} from "../lib/plot/progress.ts";

/** Runs a whole training's worth of callbacks, `msPerEpoch` of fake time apart; returns the output. */
async function simulate(
  options: ProgressOptions,
  { layers, epochs, msPerEpoch = 1000 }: { layers: number; epochs: number; msPerEpoch?: number },
): Promise<string> {
  let output = "";
  let clock = 0;
  const report = progressReporter({ ...options, now: () => clock, write: (t) => output += t });
  for (let layer = 0; layer < layers; layer++) {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      clock += msPerEpoch;
      await report({ layer, layers, epoch, epochs, loss: 1 / epoch });
    }
  }
  return output;
}

Deno.test("lines mode: a line every tenth of a layer's epochs, and the last", async () => {
  const lines = (await simulate({ mode: "lines" }, { layers: 2, epochs: 25 })).trimEnd().split(
    "\n",
  );
  const epochsShown = lines.map((line) => line.match(/layer (\d)\/2 epoch (\d+)\/25/)!.slice(1));
  const perLayer = ["3", "6", "9", "12", "15", "18", "21", "24", "25"];
  assertEquals(epochsShown, [...perLayer.map((e) => ["1", e]), ...perLayer.map((e) => ["2", e])]);
  assertEquals(lines[0], "layer 1/2 epoch 3/25 loss 0.3333 elapsed 3.0s ETA 47.0s");
  assert(!lines.join("").includes("\r"), "no carriage returns in a log");
});

Deno.test("lines mode: a line at least every minute when epochs are slow", async () => {
  const output = await simulate({ mode: "lines" }, { layers: 1, epochs: 200, msPerEpoch: 25_000 });
  const epochs = [...output.matchAll(/epoch (\d+)\/200/g)].map((m) => Number(m[1]));
  assertEquals(epochs.slice(0, 8), [3, 6, 9, 12, 15, 18, 20, 23]);
  assertEquals(epochs.at(-1), 200);
});

Deno.test("lines mode with few epochs shows every epoch", async () => {
  const lines = (await simulate({ mode: "lines" }, { layers: 1, epochs: 7 })).trimEnd().split("\n");
  assertEquals(lines.length, 7);
});

Deno.test("a writer makes auto mode print lines; label prefixes them", async () => {
  const output = await simulate({ label: "run 3" }, { layers: 1, epochs: 10 });
  assertEquals(output.split("\n").filter((line) => line !== "").length, 10);
  assert(output.startsWith("run 3: layer 1/1 epoch 1/10"), output.slice(0, 40));
});

Deno.test("ETA falls steadily over all layers and reaches zero", async () => {
  // 1 s per epoch, 2 x 10 epochs: after d epochs, 20 - d seconds are left.
  const output = await simulate({ mode: "lines" }, { layers: 2, epochs: 10 });
  const etas = [...output.matchAll(/ETA ([\d.]+)s/g)].map((m) => Number(m[1]));
  assertEquals(etas, Array.from({ length: 20 }, (_, d) => 20 - (d + 1)));
});

Deno.test("remainingMs and formatDuration", () => {
  assertEquals(remainingMs(10_000, 250, 1000), 30_000);
  assertEquals(remainingMs(10_000, 1000, 1000), 0);
  assertEquals(remainingMs(0, 0, 1000), Infinity);
  assertEquals(formatDuration(12_345), "12.3s");
  assertEquals(formatDuration(245_000), "4m05s");
  assertEquals(formatDuration(3_720_000), "1h02m");
  assertEquals(formatDuration(Infinity), "?");
});

Deno.test("terminal mode: one line rewritten with \\r, a kept line per layer, throttled", async () => {
  // 1 ms per epoch: within the redraw interval, so only the first draw and layer ends show.
  const output = await simulate({ mode: "terminal" }, { layers: 2, epochs: 100, msPerEpoch: 1 });
  assertStringIncludes(output, "\r\x1b[2K");
  assertStringIncludes(output, "[--------------------] layer 1/2 epoch 1/100 loss 1.0000");
  assertStringIncludes(output, "layer 1/2 done: loss 0.0100 after 100 epochs");
  assertEquals(output.split("\r").length - 1, 3);
  assert(output.endsWith("\n"), "the terminal is left on a fresh line");

  const slow = await simulate({ mode: "terminal" }, { layers: 1, epochs: 10, msPerEpoch: 1000 });
  assertEquals(slow.split("\r").length - 1, 10);
  assertStringIncludes(slow, "[##########----------] layer 1/1 epoch 5/10");
});

Deno.test("quiet reports nothing", async () => {
  assertEquals(await simulate({ quiet: true, mode: "terminal" }, { layers: 2, epochs: 5 }), "");
});

Deno.test("a second run with the same reporter starts its clock anew", async () => {
  let output = "";
  let clock = 0;
  const report = progressReporter({ mode: "lines", now: () => clock, write: (t) => output += t });
  const run = async () => {
    for (let epoch = 1; epoch <= 2; epoch++) {
      clock += 1000;
      await report({ layer: 0, layers: 1, epoch, epochs: 2, loss: 0.5 });
    }
  };
  await run();
  await run();
  assertEquals(
    [...output.matchAll(/elapsed ([\d.]+)s/g)].map((m) => m[1]),
    ["1.0", "2.0", "1.0", "2.0"],
  );
});

Deno.test("bad progress and bad modes are refused with a clear message", async () => {
  const report = progressReporter({ mode: "lines", write: () => {} });
  const bad: EpochProgress = { layer: 0, layers: 1, epoch: 0, epochs: 10, loss: 1 };
  await assertRejects(() => report(bad), Error, "1 <= epoch <= epochs");
  assertThrows(() => progressReporter({ mode: "jupyter" }), Error, "only inside `deno jupyter`");
  assertThrows(
    () => progressReporter({ mode: "fancy" as ProgressOptions["mode"] }),
    Error,
    'unknown progress mode "fancy"',
  );
});

Deno.test("mini-batch progress says all layers and their mean loss, not layer 1/1", async () => {
  let output = "";
  const report = progressReporter({ mode: "lines", write: (t) => output += t });
  await report({ layer: 0, layers: 1, epoch: 1, epochs: 1, loss: 0.5, losses: [0.4, 0.6] });
  assertStringIncludes(output, "all 2 layers epoch 1/1 mean loss 0.5000");
  assert(!output.includes("layer 1/1"), output);
});
