// The notebooks: each runs top to bottom in a fresh Deno kernel (quick run size) through plain
// `jupyter nbconvert --execute`, keeps every output, draws every figure it means to (also in its
// html export, in Chromium), type-checks, and is committed small, with the outputs of a real run.
import {
  assert,
  assertEquals,
  assertGreater,
  assertLess,
  assertMatch,
  assertThrows,
} from "@std/assert";
import { parseNotebooksArgs } from "../cli/notebooks.ts";
import { PLOTLY_PART_METADATA } from "../lib/plot/plot.ts";
import {
  chromiumPngs,
  COMMITTED_FIGURE_HTML,
  executeNotebook,
  exportHtml,
  forCommit,
  jupyterMissing,
  listNotebooks,
  missingOutputs,
  type Notebook,
  type Output,
  outputs,
  serialize,
  text,
} from "../tools/notebooks.ts";
import { countMainSvgs, countPlots, findChromium, renderInChromium } from "./browser.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const EXPECTED = [
  "01_positive_negative_data",
  "02_single_layer",
  "03_network",
  "04_training",
  "05_beyond",
  "06_paper_recipe",
  "07_your_own_notebook",
];

const PLOTLY_JSON = "application/vnd.plotly.v1+json";

/** A code cell that calls one of these draws a figure, and must show it. */
const FIGURE_CALL =
  /\b(lossCurves|histogram|heatmap|digitGrid|barChart|confusionMatrix|trainingPlot)\(|new Plot\(/;

const stem = (path: string) => path.replace(/^.*\//, "").replace(/\.ipynb$/, "");

/** The largest output a notebook may show: each is one kernel message, far below a megabyte. */
const MAX_OUTPUT_BYTES = 400_000;

/** Math that only MathJax turns into formulas: `$…$`, `$$…$$` or a TeX command. */
const TEX = /\$[^$\n]+\$|\\[A-Za-z]+/;

/** Markdown without its code: fenced blocks and inline code spans. */
function prose(markdown: string): string {
  return markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
}

async function read(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** Everything a notebook printed or displayed as text. */
function printed(notebook: Notebook): string {
  return outputs(notebook).map(({ output }) =>
    text(output.text) + text(output.data?.["text/plain"]) + text(output.data?.["text/markdown"])
  ).join("\n");
}

Deno.test("the six notebooks are there, in order, and can be picked by prefix", () => {
  // and after them, "your own notebook" (issue #21) and any later ones.
  const names = listNotebooks().map(stem);
  assertEquals(names.slice(0, EXPECTED.length), EXPECTED);
  assert(names.slice(EXPECTED.length).every((name) => /^(0[7-9]|[1-9]\d)_/.test(name)), `${names}`);
  assertEquals(listNotebooks(["04", "01_positive_negative_data.ipynb"]).map(stem), [
    "04_training",
    "01_positive_negative_data",
  ]);
  assertThrows(() => listNotebooks(["0"]), Error, "matches more than one notebook");
  assertThrows(() => listNotebooks(["99"]), Error, "use one of 01_positive_negative_data");
});

Deno.test("deno task notebooks reads its flags or says what is wrong", () => {
  const options = parseNotebooksArgs(["--quick", "--timeout", "60", "02", "03"]);
  assert(options !== "help");
  assertEquals([options.names, options.size, options.inplace, options.timeoutSeconds], [
    ["02", "03"],
    "quick",
    false,
    60,
  ]);
  assertEquals(parseNotebooksArgs(["--help"]), "help");
  assertThrows(() => parseNotebooksArgs(["--quick", "--full"]), Error, "exclude each other");
  assertThrows(() => parseNotebooksArgs(["--inplace", "--out", "x"]), Error, "leave out --out");
  assertThrows(() => parseNotebooksArgs(["--timeout", "soon"]), Error, "--timeout must be");
  assertThrows(() => parseNotebooksArgs(["--fast"]), Error, "see --help");
});

Deno.test("committed notebooks: Deno kernel, intro first, outputs of a non-quick run, < 1 MB", async () => {
  for (const path of listNotebooks()) {
    const name = stem(path);
    const bytes = (await Deno.stat(path)).size;
    assertLess(bytes, 1_000_000, `${name} is ${bytes} bytes: commit it through --inplace`);
    const notebook = await read(path);
    assertEquals((notebook.metadata.kernelspec as { name?: string })?.name, "deno", name);
    assertEquals(notebook.cells[0].cell_type, "markdown", `${name} starts with an intro`);
    const code = notebook.cells.filter((cell) => cell.cell_type === "code");
    assert(
      !code.some((cell) => /console\.log\(/.test(text(cell.source))),
      `${name}: report with size.report, not console.log (the kernel may drop a cell's last lines)`,
    );
    assert(
      code.every((cell) => (cell.outputs ?? []).length > 0 || !FIGURE_CALL.test(text(cell.source))),
      `${name}: every figure cell has its output`,
    );
    assertEquals(missingOutputs(notebook), [], `${name} was committed with outputs missing`);
    const figureCells = code.filter((cell) => FIGURE_CALL.test(text(cell.source)));
    if (figureCells.length > 0) {
      const loader = code.findIndex((cell) =>
        /^(?:const [^=\n]+= )?await (?:\w+\.)?(?:setup|loadPlotly)\(/m.test(text(cell.source))
      );
      assert(loader >= 0, `${name} shows figures: its first cell must \`await setup()\``);
      assertLess(loader, code.indexOf(figureCells[0]), `${name} loads plotly.js before a figure`);
    }
    assert(
      outputs(notebook).every(({ output }) => !output.metadata?.[PLOTLY_PART_METADATA]),
      `${name}: committed without plotly.js's pieces`,
    );
    for (const cell of notebook.cells.filter((cell) => cell.cell_type === "markdown")) {
      const tex = prose(text(cell.source)).match(TEX);
      assert(
        !tex,
        `${name}: "${tex?.[0]}" in a markdown cell: write math in Unicode (pₖ, Σⱼ hⱼ², θ), ` +
          "which reads the same in Jupyter, on GitHub and in an offline html export",
      );
    }
    const all = printed(notebook);
    assert(!all.includes('run size "quick"'), `${name} was committed with quick-run outputs`);
    assertMatch(all, /run size "(default|full)"/, `${name} says which run size made its outputs`);
    for (const { output } of outputs(notebook)) {
      assert(output.output_type !== "error", `${name} was committed with an error output`);
      const html = text(output.data?.["text/html"]);
      assert(!html.includes("<script"), `${name}: committed outputs carry no scripts`);
      if (output.data?.[PLOTLY_JSON]) {
        assert(
          output.data["image/png"] || html === COMMITTED_FIGURE_HTML,
          `${name}: a committed figure has a PNG or says how it is drawn`,
        );
      }
    }
  }
});

/** A piece of plotly.js, as `loadPlotly` shows it. */
function plotlyPartOutput(index: number, count: number): Output {
  return {
    output_type: "display_data",
    metadata: { [PLOTLY_PART_METADATA]: { index, count } },
    data: { "text/html": `<script>/* piece ${index} */</script>`, "text/plain": "plotly.js" },
  };
}

/** A notebook with plotly.js's pieces, a text output and two figures, as the kernel makes them. */
function executedNotebook(): Notebook {
  const figure = (title: string) => ({
    output_type: "display_data" as const,
    metadata: {},
    data: {
      [PLOTLY_JSON]: { data: [{ type: "scatter", y: [1, 2] }], layout: { title: { text: title } } },
      "text/html": `<div id="${title}"></div><script>Plotly.newPlot("${title}")</script>`,
      "text/plain": `Plot "${title}"`,
    },
  });
  return {
    cells: [
      { cell_type: "markdown", source: "# demo", metadata: {} },
      {
        cell_type: "code",
        source: "await loadPlotly();\nawait size.report(`ready`);",
        metadata: {},
        outputs: [
          plotlyPartOutput(0, 2),
          plotlyPartOutput(1, 2),
          { output_type: "display_data", metadata: {}, data: { "text/plain": "ready" } },
        ],
      },
      {
        cell_type: "code",
        source: "draw()",
        metadata: {},
        outputs: [{ output_type: "stream", text: "hello\n" }, figure("a"), figure("b")],
      },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
}

Deno.test("forCommit keeps the plotly JSON and drops scripts, for a PNG or a note", async () => {
  const notebook = executedNotebook();
  const committed = await forCommit(notebook);
  // plotly.js's pieces go: a run puts them back.
  assertEquals(committed.cells[1].outputs?.map((output) => text(output.data?.["text/plain"])), [
    "ready",
  ]);
  assertEquals(missingOutputs(committed), []);
  const noted = committed.cells[2].outputs!.slice(1).map((output) => output.data!);
  assertEquals(noted.map((data) => data["text/html"]), [
    COMMITTED_FIGURE_HTML,
    COMMITTED_FIGURE_HTML,
  ]);
  assertEquals(noted[0][PLOTLY_JSON], notebook.cells[2].outputs![1].data![PLOTLY_JSON]);
  const drawn: string[] = [];
  const withPng = await forCommit(notebook, (figure) => {
    drawn.push((figure.layout as { title: { text: string } }).title.text);
    return Promise.resolve("iVBORw0KGgo=");
  });
  assertEquals(drawn, ["a", "b"]);
  for (const output of withPng.cells[2].outputs!.slice(1)) {
    assertEquals(output.data?.["image/png"], "iVBORw0KGgo=");
    assertEquals(output.data?.["text/html"], undefined);
    assertEquals(output.data?.["text/plain"] !== undefined, true);
  }
  assertEquals(withPng.cells[2].outputs![0].text, "hello\n");
  assert(!serialize(withPng).includes("<script"), "nothing committed runs a script");
  assertEquals(notebook.cells[1].outputs?.length, 3, "the input is untouched");
});

Deno.test("missingOutputs counts the top-level reports and displays of each cell", () => {
  const cell = (source: string, shown: number) => ({
    cell_type: "code" as const,
    source,
    metadata: {},
    outputs: Array.from({ length: shown }, () => ({
      output_type: "display_data" as const,
      data: { "text/plain": "x" },
    })),
  });
  const notebook: Notebook = {
    cells: [
      cell("await size.report(`a`);\nawait Deno.jupyter.display(plot);", 2),
      cell("await size.report(`a`);\nconst x = 1;\nawait size.report(\n  `b`,\n);", 1),
      cell("await show(plot);\nconst { size } = await setup();", 1),
      // plotly.js's pieces are counted by their own numbers (below); a committed notebook has none.
      cell("await loadPlotly();", 0),
      // Indented: inside a function or a branch, it may or may not run.
      cell("async function f() {\n  await size.report(`a`);\n}", 0),
      { cell_type: "markdown", source: "await size.report(`not code`)", metadata: {} },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  assertEquals(missingOutputs(notebook), ["cell 1: 1 of 2 outputs", "cell 2: 1 of 2 outputs"]);

  // All pieces of plotly.js, or the figures cannot draw.
  const loader = (indices: number[]) => ({
    cell_type: "code" as const,
    source: "await loadPlotly();",
    metadata: {},
    outputs: indices.map((i) => plotlyPartOutput(i, 4)),
  });
  const pieces: Notebook = { ...notebook, cells: [loader([0, 1, 2, 3]), loader([1, 3])] };
  assertEquals(missingOutputs(pieces), ["cell 1: plotly.js parts 1, 3 of 4 missing"]);
});

Deno.test("the notebooks' code type-checks", async () => {
  const root = new URL("..", import.meta.url).pathname;
  // Beside notebooks/, so that the cells' `../lib/...` imports resolve as they do in the kernel.
  const dir = await Deno.makeTempDir({ dir: root, prefix: ".notebook-check-" });
  try {
    const files: string[] = [];
    for (const path of listNotebooks()) {
      const notebook = await read(path);
      // One module per notebook: the kernel runs all cells in one scope, in order, as here.
      const code = notebook.cells
        .filter((cell) => cell.cell_type === "code")
        .map((cell, i) => `// cell ${i + 1}\n${text(cell.source)}\n`)
        .join("\n");
      const file = `${dir}/${stem(path)}.ts`;
      await Deno.writeTextFile(file, `${code}\nexport {};\n`);
      files.push(file);
    }
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", ...files],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert(success, `deno check failed:\n${new TextDecoder().decode(stderr)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const missing = await jupyterMissing();
const ignore = ignoreUnless(
  missing === undefined,
  `Jupyter with the repository's Deno kernelspec (${missing})`,
);
const noChromium = ignoreUnless(
  findChromium(),
  "Chromium (chromium, chromium-browser or google-chrome), for the html exports",
);
const mnist = sharedPath("data/mnist");
// The kernel inherits FF_BACKEND (CI runs these once more with FF_BACKEND=webgpu); unset, the
// notebooks' setBackend() picks auto's blas or wasm.
const backend = Deno.env.get("FF_BACKEND");

for (const path of listNotebooks()) {
  const name = stem(path);
  Deno.test({
    name: `${name} runs top to bottom in quick mode${
      backend ? ` on ${backend}` : ""
    }, keeps every output, draws every figure`,
    ignore,
    async fn(t) {
      // executeNotebook throws if an output or a piece of plotly.js went missing.
      const { notebook } = await executeNotebook(path, {
        size: "quick",
        timeoutSeconds: 300,
        env: mnist ? { FF_MNIST_DIR: mnist } : {},
      });
      const errors = outputs(notebook).filter(({ output }) => output.output_type === "error");
      assertEquals(errors.map(({ output }) => `${output.ename}: ${output.evalue}`), []);
      notebook.cells.forEach((cell, i) => {
        if (cell.cell_type !== "code" || !FIGURE_CALL.test(text(cell.source))) return;
        const figures = (cell.outputs ?? []).filter((output) => output.data?.[PLOTLY_JSON]);
        assertGreater(figures.length, 0, `${name}: cell ${i} draws a figure but showed none`);
      });
      const all = printed(notebook);
      assertMatch(all, /run size "quick"/);
      assertMatch(all, new RegExp(`backend: ${backend ?? "(blas|wasm)"}\\b`), `${name}'s backend`);
      const sources = notebook.cells.map((cell) => text(cell.source)).join("\n");
      if (/progressReporter\(/.test(sources)) {
        assertMatch(all, /done in \d/, `${name}: training progress reached its end`);
      }
      if (/trainingPlot\(/.test(sources)) {
        assertMatch(all, /trained in \d/, `${name}: the live loss plot reached its end`);
      }
      if (name === "04_training") assertMatch(all, /full-size network, test error 0\.\d{4}/);
      // Each output came as one kernel message: none may be large.
      for (const { cell, output } of outputs(notebook)) {
        const bytes = JSON.stringify(output).length;
        assertLess(bytes, MAX_OUTPUT_BYTES, `${name}: an output of cell ${cell} is ${bytes} bytes`);
      }
      const figures = outputs(notebook).filter(({ output }) => output.data?.[PLOTLY_JSON]).length;

      await t.step({
        name: "its plain html export draws every figure in Chromium, asking no server",
        ignore: noChromium,
        async fn() {
          const dir = await Deno.makeTempDir({ prefix: "ff-notebook-html-" });
          try {
            const executed = `${dir}/${name}.ipynb`;
            await Deno.writeTextFile(executed, serialize(notebook));
            const html = await exportHtml(executed, dir);
            const { dom, requests } = await renderInChromium(html, { timeoutMs: 120_000 });
            assertEquals(requests, []);
            assertEquals(countPlots(dom), figures, `${name}: plots drawn of ${figures} figures`);
            assert(countMainSvgs(dom) >= 2 * figures, `${countMainSvgs(dom)} main-svg elements`);
            assert(!dom.includes('class="ff-plot">plotly.js is not loaded'), "plotly.js loaded");
            assertMatch(dom, /class="ff-plotly-note">plotly\.js [\d.]+ is on this page/);
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      });
    },
  });
}

Deno.test({
  name: "a live loss plot is committed as its last state: one figure with every epoch, and a PNG",
  ignore: ignore || noChromium,
  async fn() {
    // Beside lib/, as notebooks/ is, so that the fixture's `../lib/mod.ts` resolves.
    const root = new URL("..", import.meta.url).pathname;
    const dir = await Deno.makeTempDir({ dir: root, prefix: ".nbtest-live-" });
    const pngs = await chromiumPngs();
    try {
      const path = `${dir}/live_plot.ipynb`;
      await Deno.copyFile(new URL("./fixtures/live_plot.ipynb", import.meta.url), path);
      const { notebook } = await executeNotebook(path, {
        size: "quick",
        timeoutSeconds: 300,
        env: mnist ? { FF_MNIST_DIR: mnist } : {},
      });
      // Jupyter (nbclient) folds each update_display_data into the display it updates.
      const committed = await forCommit(notebook, pngs!.draw);
      const training = committed.cells.at(-1)!.outputs ?? [];
      assertEquals(training.map((output) => output.output_type), ["display_data"]);
      const [live] = training;
      const figure = live.data?.[PLOTLY_JSON] as { data: { x: number[] }[] };
      assertEquals(figure.data.map((trace) => trace.x.length), [60, 60], "every epoch");
      assertMatch(
        text(live.data?.["text/plain"]),
        /layer 2: loss \d\.\d{4} at epoch 60\ntrained in/,
      );
      const png = live.data?.["image/png"] as string;
      assert(
        png.startsWith("iVBORw0KGgo") && png.length > 5_000,
        "a PNG for viewers without scripts",
      );
      assertEquals(live.data?.["text/html"], undefined);
    } finally {
      await pngs?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("serialize writes what it was given, with each array of numbers on one line", () => {
  const figure = { data: [{ type: "heatmap", z: [[0, 0.5], [-1e-7, 100]] }], layout: {} };
  const notebook: Notebook = {
    cells: [{
      cell_type: "code",
      metadata: {},
      source: ["const z = [\n", "  1,\n", "];"],
      outputs: [{ output_type: "display_data", metadata: {}, data: { [PLOTLY_JSON]: figure } }],
      execution_count: 1,
    }],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  const written = serialize(notebook);
  assertEquals(JSON.parse(written), notebook);
  assertMatch(written, /\[0, 0\.5\],\n\s*\[-1e-7, 100\]/);
  assert(written.endsWith("}\n"));
});
