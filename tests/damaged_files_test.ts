// `deno task train --resume` on a checkpoint damaged after it was written, as a real process: one
// line naming the file and what is wrong, exit 1, nothing trained; the same file undamaged
// continues. The library's side: tests/checkpoint_test.ts and tests/weights_test.ts.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { CHECKPOINT_FILE } from "../lib/checkpoint.ts";
import { checksummedJson } from "../lib/files.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");
const cli = new URL("../cli/train.ts", import.meta.url).pathname;

/** A `deno task train` process on cpu; resolves with its exit code and output once it ends. */
function train(args: string[], stopWhen?: RegExp) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "--data", mnistDir ?? "", "--backend", "cpu", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = { out: "", err: "" };
  const gather = async (stream: ReadableStream<Uint8Array>, into: "out" | "err") => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      output[into] += text;
      if (into === "out" && stopWhen?.test(output.out)) {
        stopWhen = undefined;
        child.kill("SIGINT");
      }
    }
  };
  return Promise.all([child.status, gather(child.stdout, "out"), gather(child.stderr, "err")])
    .then(([status]) => ({ code: status.code, ...output }));
}

Deno.test({
  name:
    "--resume from a damaged checkpoint: one line naming the file, exit 1; undamaged, it continues",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
}, async () => {
  const out = await Deno.makeTempDir();
  const path = `${out}/${CHECKPOINT_FILE}`;
  const args = ["--recipe", "post", "--layers", "8,8", "--train-size", "100", "--epochs", "300"];
  const stopped = await train(
    [...args, "--checkpoint-every", "0", "--out", out],
    /layer 1\/2 epoch \d+\/300/,
  );
  assertEquals(stopped.code, 130, stopped.err);
  const good = await Deno.readTextFile(path);
  const saved = JSON.parse(good);
  const resume = async (text: string) => {
    await Deno.writeTextFile(path, text);
    const run = await train(["--resume", out]);
    assertEquals(run.code, 1, run.out + run.err);
    assertEquals(run.out, "", "nothing trained");
    const lines = run.err.trimEnd().split("\n");
    assertEquals(lines.length, 1, run.err);
    assertStringIncludes(lines[0], `train: ${path} is damaged: `);
    return lines[0];
  };
  // One character of a weight's base64, the position's epoch, the file cut in half.
  const at = good.indexOf('"data":"') + 20;
  const edited = good.slice(0, at) + (good[at] === "A" ? "B" : "A") + good.slice(at + 1);
  assertStringIncludes(await resume(edited), "do not match its checksum");
  const epoch = good.indexOf('"epoch":') + 8;
  await resume(good.slice(0, epoch) + "9" + good.slice(epoch));
  await resume(good.slice(0, good.length / 2));
  // The "epoch 99 of 30", its checksum made to agree: a position that cannot be.
  const { sha256: _, ...rest } = saved;
  const impossible = await checksummedJson({
    ...rest,
    position: { ...rest.position, epoch: 99, epochs: 30 },
  });
  assertStringIncludes(await resume(impossible), "epoch 99 of 30, which cannot be");
  // The very file, undamaged, continues to the end.
  await Deno.writeTextFile(path, good);
  const resumed = await train(["--resume", out]);
  assertEquals(resumed.code, 0, resumed.err);
  assert(resumed.out.includes("resuming"), resumed.out);
  await Deno.remove(out, { recursive: true });
});
