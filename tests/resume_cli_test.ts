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
        await Deno.readFile(`${whole}/weights.json`),
        await Deno.readFile(`${stopped}/weights.json`),
      ];
      assert(a.length === b.length && a.every((byte, i) => byte === b[i]), "weights.json differ");
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
      assertEquals(await names(stopped), ["metrics.json", "report.html", "weights.json"]);
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
