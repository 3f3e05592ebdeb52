// lib/ (or only its core) must work when copied into a folder with no deno.json, before any
// backend is chosen: a notebook folder, say.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";

const lib = new URL("../lib/", import.meta.url).pathname;

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
