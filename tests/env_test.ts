// Every environment variable lib/ reads is read in lib/env.ts, and the README's table lists it.
import { assert, assertEquals } from "@std/assert";
import { ENV_VARIABLES, readEnv } from "../lib/mod.ts";

const lib = new URL("../lib/", import.meta.url).pathname;

Deno.test("lib/ reads the environment only through lib/env.ts", async () => {
  const readers: string[] = [];
  for await (const entry of Deno.readDir(lib)) {
    const paths = entry.isDirectory
      ? [...Deno.readDirSync(`${lib}${entry.name}`)].map((e) => `${entry.name}/${e.name}`)
      : [entry.name];
    for (const path of paths.filter((p) => p.endsWith(".ts") && p !== "env.ts")) {
      // Code only: comments (JSDoc examples included) may show a variable being read.
      const code = (await Deno.readTextFile(`${lib}${path}`)).replace(/\/\*[\s\S]*?\*\//g, "");
      if (/Deno\.env\.(get|toObject)\(/.test(code)) readers.push(path);
    }
  }
  assertEquals(readers, []);
});

Deno.test("the README's table lists every variable", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  for (const name of Object.keys(ENV_VARIABLES)) {
    assert(readme.includes(`\`${name}\``), `README.md does not mention ${name}`);
  }
});

Deno.test("readEnv refuses names that are not lib/'s", () => {
  let message = "";
  try {
    readEnv("HOME" as keyof typeof ENV_VARIABLES);
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "HOME is not one of lib/'s variables");
});
