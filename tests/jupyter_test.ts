// lib/jupyter.ts inside a real Deno kernel: what `show` displays as a cell's last act is kept.
// Without waiting until the kernel has sent it (lib/iopub.ts), such an output can arrive after
// the cell's end and be dropped: with that wait taken out, 4 of 8 runs of this test lost some.
import { assertEquals } from "@std/assert";
import {
  executeNotebook,
  jupyterMissing,
  missingOutputs,
  type Notebook,
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
