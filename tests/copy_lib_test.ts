// lib/ (or only its core) must work when copied into a folder with no deno.json, before any
// backend is chosen: a notebook folder, say.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { executeNotebook, jupyterMissing, outputs, text } from "../tools/notebooks.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const lib = new URL("../lib/", import.meta.url).pathname;
const mnist = sharedPath("data/mnist");

async function runCopied(
  folder: "core" | ".",
  main: string,
  env: Record<string, string> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/lib`);
    const { success } = await new Deno.Command("cp", {
      args: ["-r", `${lib}${folder}`, `${dir}/lib/`],
    })
      .output();
    assert(success, "cp");
    await Deno.writeTextFile(`${dir}/main.ts`, main);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "-A", "main.ts"],
      cwd: dir,
      env,
    }).output();
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    return new TextDecoder().decode(stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `main` beside a copy of lib/ with `permissions`; its exit code and output. */
async function runCopiedWith(
  permissions: string[],
  main: string,
  check: (result: { code: number; out: string; err: string; dir: string }) => void | Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const copied = await new Deno.Command("cp", { args: ["-r", lib, `${dir}/lib`] }).output();
    assert(copied.success, "cp");
    await Deno.writeTextFile(`${dir}/main.ts`, main);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "--no-prompt", ...permissions, "main.ts"],
      cwd: dir,
      env,
    }).output();
    const [out, err] = [stdout, stderr].map((bytes) => new TextDecoder().decode(bytes));
    await check({ code, out, err, dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The error a script's promise rejected with, printed alone. */
const CATCH = (body: string) =>
  `try {\n${body}\n} catch (e) {\n  console.error((e as Error).message);\n  Deno.exit(1);\n}\n`;

Deno.test("a copied lib/ without --allow-read says so in one line, not in Emscripten's six", async () => {
  const main = `import { setBackend } from "./lib/mod.ts";\n` +
    CATCH(`console.log(await setBackend("wasm"));`);
  await runCopiedWith([], main, ({ code, err }) => {
    assertEquals(code, 1);
    const lines = err.trim().split("\n");
    assertEquals(lines.length, 1, err);
    assertStringIncludes(lines[0], 'backend "wasm" reads its .wasm files');
    assertStringIncludes(lines[0], "--allow-read");
  });
  await runCopiedWith(["--allow-read"], main, ({ code, out }) => {
    assertEquals([code, out], [0, "wasm\n"]);
  });
});

Deno.test({
  name: "a copied lib/ without MNIST gives the command that fetches it there, and it works",
  ignore: ignoreUnless(mnist, "../shared/data/mnist"),
  async fn() {
    const main = `import { loadMnist } from "./lib/mod.ts";\n` +
      CATCH(`const data = await loadMnist("mnist");\nconsole.log(data.source);`);
    await runCopiedWith(["--allow-read"], main, async ({ code, err, dir }) => {
      assertEquals(code, 1);
      assert(!err.includes("deno task"), `a task that does not exist there: ${err}`);
      const command = err.match(/run `(deno eval '.*')`/)?.[1];
      assert(command, err);
      // The command as printed, in the user's folder, offline from a mirror.
      const fetched = await new Deno.Command("sh", {
        args: ["-c", command],
        cwd: dir,
        env: { FF_MNIST_MIRROR: mnist! },
        stdout: "null",
      }).output();
      assertEquals(fetched.code, 0, new TextDecoder().decode(fetched.stderr));
      const again = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", "--no-lock", "--allow-read", "main.ts"],
        cwd: dir,
      }).output();
      assertEquals(new TextDecoder().decode(again.stdout), "MNIST (mnist)\n");
    });
  },
});

const TRAIN = (from: string) =>
  `import { combineXY, FFNN, negativeLabels, tf } from "${from}";
const x = tf.tensor2d([[0.1, 0.9, 0.3], [0.8, 0.2, 0.5], [0.4, 0.4, 0.9], [0.7, 0.1, 0.2]]);
const y = tf.tensor1d([0, 1, 2, 1], "int32");
const net = new FFNN([13, 6], { epochs: 3, seed: 1 });
await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 })));
await net.trainMiniBatch(x, y, { batchSize: 2, epochs: 1 });
console.log("predicted", net.predict(x).shape.join("x"), net.losses[0].length, tf.getBackend());
`;

Deno.test("lib/core alone, copied into an empty folder, trains with --no-config", async () => {
  const out = await runCopied("core", TRAIN("./lib/core/mod.ts"));
  assertStringIncludes(out, "predicted 4 1 cpu");
});

Deno.test("the whole lib/, copied, trains on first use: a default backend is chosen for you", async () => {
  const out = await runCopied(".", TRAIN("./lib/mod.ts"));
  assert(/predicted 4 1 (blas|cpu)\n/.test(out), out);
});

Deno.test("the core imports only TensorFlow.js and itself", async () => {
  for await (const entry of Deno.readDir(`${lib}core`)) {
    // Without comments: the JSDoc examples import @std/assert, which is not the module's own.
    const source = (await Deno.readTextFile(`${lib}core/${entry.name}`))
      .replace(/\/\*[\s\S]*?\*\//g, "");
    for (const [, specifier] of source.matchAll(/^(?:import|export)[^"]*?from\s+"([^"]+)"/gm)) {
      assert(
        specifier.startsWith("./") || specifier.startsWith("npm:@tensorflow/"),
        `${entry.name} imports ${specifier}`,
      );
    }
    assert(!/getBackend\(\)\s*===/.test(source), `${entry.name} checks the backend's name`);
  }
});

Deno.test("a copied lib/ sets a notebook up and plots its training: setup(), trainingPlot()", async () => {
  // What a notebook of your own does (notebooks/README.md), outside Jupyter: setup() shows its
  // one line, trainingPlot() falls back to progress lines, and plotly.js (which setup() sends to
  // a notebook page) is found without a deno.json.
  const out = await runCopied(
    ".",
    `import { fullRuns, plotlyParts, runExperiment, setup, trainingPlot } from "./lib/mod.ts";
const { size, data, backend } = await setup();
const r = size.recipe("post", { epochs: 3, layers: [20, 20] });
const result = await runExperiment(data, r, { validationSize: 500, onEpoch: trainingPlot() });
console.log("error", result.testError < 1, "runs", (await fullRuns()).length, backend);
console.log("plotly parts", (await plotlyParts()).length > 1);
result.net.dispose();
`,
    { FF_QUICK: "1", FF_MNIST_DIR: new URL("../data/mnist", import.meta.url).pathname },
  );
  assert(
    /^data: MNIST \(.*data\/mnist\) · backend: (blas|wasm) · run size "quick"/m.test(out),
    out,
  );
  assertStringIncludes(out, "layer 2/2 epoch 3/3 loss");
  assert(/error true runs 0 (blas|wasm)\n/.test(out), out);
  assertStringIncludes(out, "plotly parts true");
});

const jupyter = await jupyterMissing();

Deno.test({
  name: "a notebook of your own beside a copied lib/ runs in Jupyter: setup's line, a live plot",
  ignore: ignoreUnless(jupyter === undefined, `Jupyter with the Deno kernelspec (${jupyter})`),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ff-own-notebook-" });
    try {
      await Deno.mkdir(`${dir}/lib`);
      const cp = await new Deno.Command("cp", { args: ["-r", `${lib}.`, `${dir}/lib/`] }).output();
      assert(cp.success, "cp");
      const cell = (source: string) => ({
        cell_type: "code",
        execution_count: null,
        metadata: {},
        outputs: [],
        source,
      });
      await Deno.writeTextFile(
        `${dir}/own.ipynb`,
        JSON.stringify({
          cells: [
            cell(
              'import { runExperiment, setup, trainingPlot } from "./lib/mod.ts";\n' +
                "const { size, data } = await setup();",
            ),
            cell(
              'const r = size.recipe("post", { epochs: 5, layers: [20, 20] });\n' +
                "const result = await runExperiment(data, r, { validationSize: 500, " +
                "onEpoch: trainingPlot() });",
            ),
          ],
          metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
          nbformat: 4,
          nbformat_minor: 5,
        }),
      );
      const { notebook } = await executeNotebook(`${dir}/own.ipynb`, {
        size: "quick",
        timeoutSeconds: 300,
        env: { FF_MNIST_DIR: new URL("../data/mnist", import.meta.url).pathname },
      });
      const shown = outputs(notebook);
      assert(
        shown.some(({ output }) =>
          /^data: MNIST .* run size "quick"/.test(text(output.data?.["text/plain"]))
        ),
        "setup's line",
      );
      const figures = shown.filter(({ output }) => output.data?.["application/vnd.plotly.v1+json"]);
      assertEquals(figures.map(({ cell }) => cell), [1], "one figure, in the training cell");
      assertStringIncludes(text(figures[0].output.data?.["text/plain"]), "layer 2: loss");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
