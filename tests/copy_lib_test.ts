// lib/ (or only its core) must work when copied into a folder with no deno.json, before any
// backend is chosen: a notebook folder, say.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { ignoreUnless, sharedPath } from "./shared.ts";

const lib = new URL("../lib/", import.meta.url).pathname;
const mnist = sharedPath("data/mnist");

async function runCopied(folder: "core" | ".", main: string): Promise<string> {
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
  check: (result: { code: number; out: string; err: string; dir: string }) => Promise<void>,
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
  await runCopiedWith([], main, async ({ code, err }) => {
    assertEquals(code, 1);
    const lines = err.trim().split("\n");
    assertEquals(lines.length, 1, err);
    assertStringIncludes(lines[0], 'backend "wasm" reads its .wasm files');
    assertStringIncludes(lines[0], "--allow-read");
  });
  await runCopiedWith(["--allow-read"], main, async ({ code, out }) => {
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
