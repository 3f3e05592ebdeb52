// lib/jupyter.ts inside a real Deno kernel: what `show` displays as a cell's last act is kept.
// Without waiting until the kernel has sent it (lib/iopub.ts), such an output can arrive after
// the cell's end and be dropped: with that wait taken out, 4 of 8 runs of this test lost some.
import { assert, assertEquals } from "@std/assert";
import {
  executeNotebook,
  jupyterMissing,
  missingOutputs,
  type Notebook,
  text,
} from "../tools/notebooks.ts";
import { ignoreUnless } from "./shared.ts";

const missing = await jupyterMissing();
const ignore = ignoreUnless(
  missing === undefined,
  `Jupyter with the repository's Deno kernelspec (${missing})`,
);

const CELLS = 12;

Deno.test({
  name: `show: the last output of each of ${CELLS + 1} cells arrives, in its own cell`,
  ignore,
  async fn() {
    const jupyter = new URL("../lib/jupyter.ts", import.meta.url).href;
    const code = (source: string) => ({
      cell_type: "code" as const,
      execution_count: null,
      metadata: {},
      outputs: [],
      source,
    });
    const notebook: Notebook = {
      cells: [
        // The first cell too: a kernel that just started is the slowest to send.
        code(`import { show } from "${jupyter}";\nawait show("cell 0");`),
        // 100 kB each: the kernel takes a moment to send that, and the cell ends at once.
        ...Array.from(
          { length: CELLS },
          (_, i) => code(`await show("cell ${i + 1} " + "x".repeat(100_000));`),
        ),
      ],
      metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    const dir = await Deno.makeTempDir({ prefix: "ff-show-" });
    try {
      const path = `${dir}/show.ipynb`;
      await Deno.writeTextFile(path, JSON.stringify(notebook));
      // executeNotebook throws if a cell has fewer outputs than `await show(` statements.
      const { notebook: executed } = await executeNotebook(path, { timeoutSeconds: 120 });
      assertEquals(missingOutputs(executed), []);
      const shown = executed.cells.map((cell) =>
        (cell.outputs ?? []).map((output) => output.data?.["text/plain"]).join("")
      );
      assertEquals(
        shown,
        [
          "cell 0",
          ...Array.from({ length: CELLS }, (_, i) => `cell ${i + 1} ${"x".repeat(100_000)}`),
        ],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "deno jupyter --install: Jupyter finds the kernel where it looks, and runs a notebook on it",
  ignore,
  async fn() {
    // A home of our own for Jupyter's data: the machine's own kernels stay as they are.
    const data = await Deno.makeTempDir({ prefix: "ff-xdg-" });
    const env = { XDG_DATA_HOME: data, JUPYTER_DATA_DIR: "", JUPYTER_PATH: "" };
    const run = async (command: string, args: string[], cwd?: string) => {
      const { success, stdout, stderr } = await new Deno.Command(command, {
        args,
        env,
        cwd,
        stdin: "null",
      }).output();
      const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
      assert(success, `${command} ${args.join(" ")} failed:\n${decode(stderr)}`);
      return decode(stdout);
    };
    try {
      await run(Deno.execPath(), ["jupyter", "--install"]);
      // Jupyter's own answer to where user kernels live, and what it finds there.
      const spec = JSON.parse(
        await Deno.readTextFile(`${await run("jupyter", ["--data-dir"])}/kernels/deno/kernel.json`),
      );
      assertEquals(spec.argv.slice(1), ["jupyter", "--kernel", "--conn", "{connection_file}"]);
      const jupyter = new URL("../lib/jupyter.ts", import.meta.url).href;
      await Deno.writeTextFile(
        `${data}/hello.ipynb`,
        JSON.stringify({
          cells: [{
            cell_type: "code",
            execution_count: null,
            metadata: {},
            outputs: [],
            source:
              `import { show } from "${jupyter}";\nawait show("hello from the installed kernel");`,
          }],
          metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
          nbformat: 4,
          nbformat_minor: 5,
        }),
      );
      const executed = JSON.parse(
        await run("jupyter", [
          "nbconvert",
          "--to",
          "notebook",
          "--execute",
          "--stdout",
          "hello.ipynb",
        ], data),
      ) as Notebook;
      assertEquals(
        executed.cells[0].outputs?.map((output) => text(output.data?.["text/plain"])),
        ["hello from the installed kernel"],
      );
    } finally {
      await Deno.remove(data, { recursive: true });
    }
  },
});
