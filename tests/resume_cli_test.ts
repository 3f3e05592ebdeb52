// `deno task train` stopped by real signals and resumed with --resume, compared byte for byte with
// the same run left alone; and its one-line answers to a run that diverges, a layer gone silent,
// and --resume used wrongly. The library's side: tests/checkpoint_test.ts.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { registerBlasBackend } from "../lib/backends/blas.ts";
import { readCheckpoint } from "../lib/checkpoint.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const mnistDir = sharedPath("data/mnist");
const cli = new URL("../cli/train.ts", import.meta.url).pathname;
const noMnist = ignoreUnless(mnistDir, "../shared/data/mnist");
const blas = registerBlasBackend();

/** A `deno task train` process, its output gathered as it comes. */
class Train {
  readonly child: Deno.ChildProcess;
  out = "";
  err = "";
  readonly #done: Promise<unknown>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "--data", mnistDir ?? "", ...args],
      env: { FF_BACKEND: "auto", ...env },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const gather = async (stream: ReadableStream<Uint8Array>, into: "out" | "err") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this[into] += text;
    };
    this.#done = Promise.all([gather(this.child.stdout, "out"), gather(this.child.stderr, "err")]);
  }

  /** Waits until `pattern` shows in stdout (or stderr); fails if the process ends first. */
  async until(pattern: RegExp, where: "out" | "err" = "out"): Promise<void> {
    let ended = false;
    this.child.status.then(() => ended = true);
    while (!pattern.test(this[where])) {
      assert(!ended, `ended before ${pattern}:\n${this.out}\n${this.err}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async status(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#done;
    return status;
  }

  /** Runs to the end; asserts it succeeded. */
  async finish(): Promise<this> {
    const { code } = await this.status();
    assertEquals(code, 0, `${this.out}\n${this.err}`);
    return this;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const names = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();

interface Case {
  name: string;
  backend: "cpu" | "blas";
  args: string[];
  /** Stdout that says the run is where the signal should reach it. */
  at: RegExp;
  stop: "SIGINT" | "SIGTERM" | "SIGKILL" | "Ctrl-C twice";
}

const POST = ["--recipe", "post", "--layers", "20,50"];
// Hinton's recipe, with every random draw it can make: shifts, dropout, hard negatives.
const HINTON = ["--layers", "20,20", "--batch-size", "100", "--shift", "1", "--dropout", "0.1"];
const CASES: Case[] = [
  {
    name: "the post's full batch on cpu, SIGINT in layer 2",
    backend: "cpu",
    args: [...POST, "--train-size", "100", "--epochs", "60"],
    at: /layer 2\/2 epoch 6\/60/,
    stop: "SIGINT",
  },
  {
    name: "the post's full batch on blas, SIGTERM in layer 2",
    backend: "blas",
    args: [...POST, "--train-size", "300", "--epochs", "200"],
    at: /layer 2\/2 epoch 20\/200/,
    stop: "SIGTERM",
  },
  {
    name: "Hinton's mini-batches on cpu, Ctrl-C twice in epoch 2",
    backend: "cpu",
    args: [...HINTON, "--train-size", "2000", "--epochs", "4"],
    at: /epoch 1\/4/,
    stop: "Ctrl-C twice",
  },
  {
    name: "Hinton's mini-batches on blas, SIGKILL in epoch 3",
    backend: "blas",
    args: [...HINTON, "--train-size", "1000", "--epochs", "6"],
    at: /epoch 2\/6/,
    stop: "SIGKILL",
  },
  {
    // Hybrid negatives: masks and partners redrawn every epoch, from the seed alone.
    name: "unsupervised FF (hybrid negatives) on blas, SIGTERM in epoch 2",
    backend: "blas",
    args: [
      ...["--recipe", "unsupervised-quick", "--layers", "30,30,30"],
      ...["--train-size", "1000", "--epochs", "4"],
    ],
    at: /epoch 1\/4/,
    stop: "SIGTERM",
  },
];

for (const c of CASES) {
  Deno.test({
    name: `${c.name}: resumed, the same weights and errors as never stopped, byte for byte`,
    ignore: noMnist || ignoreUnless(blas.ok || c.backend === "cpu", "OpenBLAS"),
    async fn() {
      const [whole, stopped] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
      const args = [...c.args, "--seed", "3", "--backend", c.backend];
      // The run left alone goes on beside the one stopped: the numbers cannot depend on that.
      const left = new Train([...args, "--out", whole]).finish();
      // A checkpoint after every epoch: the kill finds one (or is in the middle of writing it).
      const run = new Train([...args, "--checkpoint-every", "0", "--out", stopped]);
      await run.until(c.at);
      // The checkpoint of an epoch is written after its line: on a busy machine, well after.
      while (!(await names(stopped)).includes("checkpoint.json")) await sleep(5);
      if (c.stop === "Ctrl-C twice") {
        // Well into epoch 2 (of 0.6 s or more), so that the second Ctrl-C comes before its end.
        await new Promise((resolve) => setTimeout(resolve, 100));
        run.child.kill("SIGINT");
        await run.until(
          /SIGINT: stopping after this epoch, to write a checkpoint; Ctrl-C again/,
          "err",
        );
        run.child.kill("SIGINT");
      } else {
        run.child.kill(c.stop);
      }
      const status = await run.status();
      if (c.stop === "SIGINT" || c.stop === "SIGTERM") {
        assertEquals(status.code, c.stop === "SIGINT" ? 130 : 143, run.err);
        assertStringIncludes(run.out, `; to continue: deno task train --resume ${stopped}\n`);
        const metrics = JSON.parse(await Deno.readTextFile(`${stopped}/metrics.json`));
        assertEquals(metrics.interrupted, true);
        assertEquals(metrics.resume, `deno task train --resume ${stopped}`);
        assertStringIncludes(
          await Deno.readTextFile(`${stopped}/report.html`),
          "interrupted after",
        );
      } else {
        // Stopped at once, by the signal itself, before anything but checkpoints was written.
        assertEquals(status.signal, c.stop === "SIGKILL" ? "SIGKILL" : "SIGINT", run.err);
        assert(!(await names(stopped)).includes("metrics.json"));
      }
      const saved = await readCheckpoint(stopped);
      assert(saved, `no checkpoint in ${await names(stopped)}`);
      const { layer, layers, epoch, epochs } = saved.position;
      assert(layer === layers - 1 && epoch < epochs, `stopped in the last layer's training`);

      const resumed = await new Train(["--resume", stopped]).finish();
      await left;
      assertMatch(
        resumed.out,
        new RegExp(`resuming ${stopped} after (layer 2 )?epoch ${epoch} of`),
      );
      const [a, b] = [
        await Deno.readFile(`${whole}/weights.ffw`),
        await Deno.readFile(`${stopped}/weights.ffw`),
      ];
      assert(a.length === b.length && a.every((byte, i) => byte === b[i]), "weights.ffw differ");
      const [ma, mb] = await Promise.all(
        [whole, stopped].map(async (dir) =>
          JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`))
        ),
      );
      for (
        const key of ["errors", "losses", "readout", "test_error", "config", "backend", "blas"]
      ) {
        assertEquals(mb[key], ma[key], key);
      }
      assert(!resumed.err.includes("can differ in the last bits"), resumed.err);
      assertEquals(await names(stopped), ["metrics.json", "report.html", "weights.ffw"]);
      await Deno.remove(whole, { recursive: true });
      await Deno.remove(stopped, { recursive: true });
    },
  });
}

Deno.test({
  name: "resumed on another number of OpenBLAS threads: it goes on, and says the bits will differ",
  ignore: noMnist || ignoreUnless(blas.ok, "OpenBLAS") ||
    ignoreUnless(blas.ok && blas.threads !== 1, "OpenBLAS on more than one thread"),
  async fn() {
    const out = await Deno.makeTempDir();
    const args = [...HINTON, "--train-size", "1000", "--epochs", "3", "--backend", "blas"];
    const run = new Train([...args, "--checkpoint-every", "0", "--out", out]);
    await run.until(/epoch 2\/3/);
    run.child.kill("SIGKILL");
    await run.status();
    const resumed = await new Train(["--resume", out], { OPENBLAS_NUM_THREADS: "1" }).finish();
    const config = blas.ok && blas.config;
    assertStringIncludes(
      resumed.err,
      `was written on backend blas (${config}, threads: ${blas.ok && blas.threads}), this run ` +
        `uses backend blas (${config}, threads: 1): its numbers can differ in the last bits`,
    );
    const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assertEquals(metrics.blas.threads, 1);
    await Deno.remove(out, { recursive: true });
  },
});

/** Runs to the end; returns exit code and output. */
async function train(...args: string[]) {
  const run = new Train(args);
  return { code: (await run.status()).code, out: run.out, err: run.err };
}

Deno.test({
  name:
    "a loss gone NaN stops with the layer, the epoch and the flag to change; the last good checkpoint stays",
  ignore: noMnist,
  async fn() {
    const out = await Deno.makeTempDir();
    const run = await train(
      ...[...POST.slice(0, 2), "--layers", "10", "--train-size", "100", "--epochs", "5"],
      ...["--lr", "1e30", "--backend", "cpu", "--checkpoint-every", "0", "--out", out],
    );
    assertEquals(run.code, 1, run.err);
    const last = run.err.trim().split("\n").at(-1)!;
    assertMatch(
      last,
      /^train: loss became (NaN|-?Infinity) at layer 1 epoch 2: lower --lr \(now 1e\+30\)$/,
    );
    assertEquals((await readCheckpoint(out))?.position.epoch, 1);
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "a layer whose units all went silent gets one warning, with the flag to change",
  ignore: noMnist,
  async fn() {
    const out = await Deno.makeTempDir();
    // Hinton's recipe at a learning rate far too large: no unit fires from the first epoch on.
    const run = await train(
      ...["--layers", "20,20", "--train-size", "300", "--epochs", "3", "--lr", "100"],
      ...["--backend", "cpu", "--out", out],
    );
    assertEquals(run.code, 0, run.err);
    const warnings = run.err.split("\n").filter((line) => line.startsWith("warning:"));
    assertEquals(warnings, [
      "warning: layer 1: no unit is active on any training input (epoch 2), so it has stopped " +
      "learning: lower --lr (now 100)",
    ]);
    await Deno.remove(out, { recursive: true });
  },
});

const SIGNAL_CODE = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
const TINY_HINTON = [...HINTON, "--train-size", "300", "--seed", "3", "--backend", "cpu"];

/** The same weights, byte for byte. */
async function assertSameWeights(a: string, b: string) {
  const [x, y] = [
    await Deno.readFile(`${a}/weights.ffw`),
    await Deno.readFile(`${b}/weights.ffw`),
  ];
  assert(x.length === y.length && x.every((byte, i) => byte === y[i]), `${a} and ${b} differ`);
}

Deno.test({
  name:
    "SIGINT, SIGTERM, SIGHUP right after the last epoch or while scoring: the results, or a checkpoint that finishes them",
  ignore: noMnist,
  async fn() {
    const args = [...TINY_HINTON, "--epochs", "2"];
    const whole = await Deno.makeTempDir();
    await new Train([...args, "--out", whole]).finish();
    for (
      const [signal, delay, twice] of [
        ["SIGINT", 0, false],
        ["SIGTERM", 150, false],
        ["SIGHUP", 400, false],
        ["SIGINT", 0, true],
      ] as const
    ) {
      const out = await Deno.makeTempDir();
      const run = new Train([...args, "--out", out]);
      await run.until(/epoch 2\/2/);
      if (twice) {
        // Once the final checkpoint is on disk, a second signal stops at once and leaves it.
        while (!(await names(out)).includes("checkpoint.json")) await sleep(5);
        run.child.kill(signal);
        await run.until(/training has finished: writing its results/, "err");
      } else await sleep(delay);
      run.child.kill(signal);
      const status = await run.status();
      if (twice && status.signal) {
        assertEquals(status.signal, signal);
        assertEquals(await names(out), [".train.lock", "checkpoint.json"]);
        await new Train(["--resume", out]).finish();
        await assertSameWeights(whole, out);
        assertEquals(await names(out), ["metrics.json", "report.html", "weights.ffw"]);
        await Deno.remove(out, { recursive: true });
        continue;
      }
      assertEquals(status.code, SIGNAL_CODE[signal], `${signal}: ${run.out}\n${run.err}`);
      assertStringIncludes(run.err, `\n${signal}: `);
      const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      if (metrics.interrupted) {
        // Stopped with the final checkpoint: --resume only scores and writes.
        assertStringIncludes(run.out, `; to continue: deno task train --resume ${out}\n`);
        const saved = await readCheckpoint(out);
        assertEquals(saved?.position.epoch, 2);
        const resumed = await new Train(["--resume", out]).finish();
        assertStringIncludes(resumed.out, `resuming ${out} after epoch 2 of 2`);
      } else {
        assertStringIncludes(
          run.out,
          `${signal} came after training had finished: the results are written\n`,
        );
      }
      await assertSameWeights(whole, out);
      assertEquals(await names(out), ["metrics.json", "report.html", "weights.ffw"]);
      await Deno.remove(out, { recursive: true });
    }
    await Deno.remove(whole, { recursive: true });
  },
});

Deno.test({
  name: "SIGHUP with the terminal gone, mid-training: a checkpoint written by the stop, resumed",
  ignore: noMnist,
  async fn() {
    // The default interval: the only checkpoint within this short run is the one the stop writes.
    const args = [...TINY_HINTON, "--epochs", "4"];
    const [whole, out] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const left = new Train([...args, "--out", whole]).finish();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "--data", mnistDir!, ...args, "--out", out],
      env: { FF_BACKEND: "auto" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    for (let text = ""; !/epoch 1\/4/.test(text);) {
      const { value, done } = await reader.read();
      assert(!done, `ended before epoch 1:\n${text}`);
      text += value;
    }
    // A closed terminal or dropped SSH session: nothing can be written to it any more.
    await reader.cancel();
    await child.stderr.cancel();
    child.kill("SIGHUP");
    assertEquals((await child.status).code, 129);
    const saved = await readCheckpoint(out);
    assert(saved && saved.position.epoch < 4, `${saved?.position.epoch}`);
    assertEquals(JSON.parse(await Deno.readTextFile(`${out}/metrics.json`)).interrupted, true);
    await new Train(["--resume", out]).finish();
    await left;
    await assertSameWeights(whole, out);
    for (const dir of [whole, out]) await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "--resume keeps --checkpoint-every and --eval-every, and metrics.json keeps the whole curve",
  ignore: noMnist,
  async fn() {
    const args = [...TINY_HINTON, "--epochs", "5", "--eval-every", "1", "--checkpoint-every", "0"];
    const [whole, out] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const left = new Train([...args, "--out", whole]).finish();
    const run = new Train([...args, "--out", out]);
    await run.until(/epoch 2\/5/);
    run.child.kill("SIGINT");
    assertEquals((await run.status()).code, 130, run.err);
    // The command printed continues the run as it was started: nothing to add to it.
    assertStringIncludes(run.out, `; to continue: deno task train --resume ${out}\n`);
    const stopped = (await readCheckpoint(out))!;
    const first = stopped.position.epoch;
    assertEquals(stopped.meta.checkpointEvery, 0);
    assertEquals(stopped.meta.evaluateEvery, 1);
    const interrupted = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assertEquals(
      interrupted.curve.map((p: { epoch: number }) => p.epoch),
      Array.from({ length: first }, (_, i) => i + 1),
    );

    // Resumed with no flags, killed two epochs on: a checkpoint after every epoch is still
    // written (the default would write none before the end), and the lock left by the killed
    // process does not block the next.
    const again = new Train(["--resume", out]);
    await again.until(new RegExp(`epoch ${first + 2}/5`));
    again.child.kill("SIGKILL");
    await again.status();
    assertMatch(
      again.out,
      new RegExp(`^epoch ${first + 1} \\(\\d+ s of training\\): goodness`, "m"),
    );
    assert((await names(out)).includes(".train.lock"), `${await names(out)}`);
    const killed = (await readCheckpoint(out))!.position.epoch;
    assert(killed > first, `checkpoint at epoch ${killed}, stopped at ${first}`);

    await new Train(["--resume", out]).finish();
    await left;
    await assertSameWeights(whole, out);
    const [a, b] = await Promise.all(
      [whole, out].map(async (dir) => JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`))),
    );
    const errors = (m: { curve: { epoch: number; errors: unknown }[] }) =>
      m.curve.map(({ epoch, errors }) => ({ epoch, errors }));
    assertEquals(errors(b), errors(a));
    assertEquals(b.curve.length, 5);
    assertEquals(await names(out), ["metrics.json", "report.html", "weights.ffw"]);
    for (const dir of [whole, out]) await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "a run folder in use is refused in one line; once its run is killed, it is free",
  ignore: noMnist,
  async fn() {
    const out = await Deno.makeTempDir();
    const first = new Train([
      ...TINY_HINTON,
      "--epochs",
      "500",
      "--checkpoint-every",
      "0",
      "--out",
      out,
    ]);
    // Said once the folder is claimed (and locked), before the data is loaded.
    await first.until(/^run folder: /m);
    const pid = first.child.pid;
    for (
      const [args, flag] of [
        [[...TINY_HINTON, "--epochs", "1", "--out", out], "--out"],
        [["--resume", out], "--resume"],
      ] as const
    ) {
      const second = await train(...args);
      assertEquals(second.code, 1, second.err);
      assertEquals(
        second.err,
        `train: ${flag} ${out} is in use by another run (process ${pid}): wait for it to end, or ` +
          "choose another folder\n",
      );
    }
    first.child.kill("SIGKILL");
    await first.status();
    // The lock file is left behind, and no longer held: the run resumes.
    assert((await names(out)).includes(".train.lock"));
    const third = new Train(["--resume", out]);
    await third.until(new RegExp(`resuming ${out} after epoch`));
    third.child.kill("SIGKILL");
    await third.status();
    await Deno.remove(out, { recursive: true });
  },
});
