// lib/ must work when copied into a folder with no deno.json (a notebook folder, say).
import { assertEquals, assertStringIncludes } from "@std/assert";

Deno.test("a copy of lib/ runs with --no-config", async () => {
  const dir = await Deno.makeTempDir();
  const lib = new URL("../lib/", import.meta.url).pathname;
  await new Deno.Command("cp", { args: ["-r", lib, `${dir}/lib`] }).output();
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    `import { combineXY, FFNN, negativeLabels, setBackend, tf } from "./lib/mod.ts";
await setBackend("cpu");
const x = tf.tensor2d([[0.1, 0.9, 0.3], [0.8, 0.2, 0.5], [0.4, 0.4, 0.9], [0.7, 0.1, 0.2]]);
const y = [0, 1, 2, 1];
const net = new FFNN([13, 6], { epochs: 3, seed: 1 });
await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 })));
console.log("predicted", net.predict(x).shape.join("x"), net.losses[0].length);
`,
  );
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--no-lock", "-A", "main.ts"],
    cwd: dir,
  }).output();
  const err = new TextDecoder().decode(stderr);
  assertEquals(code, 0, err);
  assertStringIncludes(new TextDecoder().decode(stdout), "predicted 4 3");
  await Deno.remove(dir, { recursive: true });
});
