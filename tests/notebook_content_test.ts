// The notebooks keep to the contract of issue #21 (tests/notebook_rules.ts), read statically: links
// resolve, no stale lib/ path, header and closing cells, outputs of at most a screen, figures that
// show something, numbers that agree with the outputs and the committed full-size runs. A small
// notebook that follows the contract passes, and one broken in each way fails with that rule.
import { assert, assertEquals } from "@std/assert";
import { fullRun, fullRuns } from "../lib/notebook.ts";
import { runSource } from "../lib/notebook.ts";
import { listNotebooks, type Notebook, NOTEBOOKS_DIR, type Output } from "../tools/notebooks.ts";
import {
  checkMarkdownLinks,
  checkNotebook,
  type RuleContext,
  type RunInfo,
} from "./notebook_rules.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function committedRuns(): Promise<Record<string, RunInfo>> {
  const runs: Record<string, RunInfo> = {};
  for (const name of await fullRuns()) {
    const { metrics, source } = await fullRun(name);
    runs[name] = { metrics, source };
  }
  return runs;
}

const runs = await committedRuns();
const notebooks = listNotebooks().map((path) => path.replace(/^.*\//, ""));

for (const path of listNotebooks()) {
  const name = path.replace(/^.*\//, "").replace(/\.ipynb$/, "");
  Deno.test(`${name} follows the notebook contract`, async () => {
    const notebook = JSON.parse(await Deno.readTextFile(path)) as Notebook;
    assertEquals(checkNotebook(notebook, { path, root: ROOT, notebooks, runs }), []);
  });
}

Deno.test("notebooks/README.md: its links resolve and its lib/ paths exist", async () => {
  const markdown = await Deno.readTextFile(`${NOTEBOOKS_DIR}/README.md`);
  assertEquals(
    checkMarkdownLinks(markdown, { dir: NOTEBOOKS_DIR, root: ROOT, where: "notebooks/README.md" }),
    [],
  );
});

// ---- A notebook that follows the contract, and one broken in each way ----

const POST = "https://mbacvanski.github.io/blog/forward-forward-nn";
const RUN_METRICS = {
  command: "deno task train --recipe post --out /work/fullruns/post",
  commit: "01d4d4dabcdef0123456789abcdef0123456789a",
  date: "2026-12-07T16:03:11.000Z",
  backend: "blas",
  test_error: 0.0692,
  errors: { goodness: { train: 0.0695, validation: 0.0701, test: 0.0692 } },
  train_seconds: 1894.2,
  losses: [[0.9, 0.5]],
};
const RUNS: Record<string, RunInfo> = {
  post: { metrics: RUN_METRICS, source: runSource("post", RUN_METRICS) },
};

function markdown(source: string) {
  return { cell_type: "markdown" as const, metadata: {}, source };
}

function code(source: string, outputs: Output[]) {
  return { cell_type: "code" as const, metadata: {}, source, outputs, execution_count: 1 };
}

function shown(plain: string): Output {
  return { output_type: "display_data", metadata: {}, data: { "text/plain": plain } };
}

function figure(data: object[], layout: object = {}): Output {
  return {
    output_type: "display_data",
    metadata: {},
    data: {
      "application/vnd.plotly.v1+json": {
        data,
        layout: {
          title: { text: "Goodness" },
          xaxis: { title: { text: "goodness (mean squared activity)" } },
          yaxis: { title: { text: "count of images" } },
          ...layout,
        },
      },
      "image/png": "iVBORw0KGgo=",
      "text/plain": "Plot",
    },
  };
}

const spread = Array.from({ length: 50 }, (_, i) => i / 7);

/** 01 of a two-notebook folder, following every rule. */
function goodNotebook(): Notebook {
  return {
    cells: [
      markdown(
        `# 1. Positive and negative data\n\nRetells the post's section "Positive and negative ` +
          `data" ([the post](${POST})); the layer lives in [layer.ts](../lib/core/layer.ts).\n\n` +
          "You will learn:\n\n- how a label goes into the image\n- why negatives matter\n\n" +
          'Run size "default" · Run time: about 2 min at the default size on a 2-core CPU.\n\n' +
          "Open it with the Deno kernel: see [README.md](README.md).",
      ),
      code('import { setup } from "../lib/mod.ts";\nconst { size, data } = await setup();', [
        shown('data: MNIST · backend: blas · run size "default"'),
      ]),
      markdown("At full size the post's recipe scores 6.92% (the committed run below)."),
      code('const post = await fullRun("post");\nawait show(errorChart(post));', [
        figure([{ type: "histogram", x: spread }], {
          title: { text: `Test error<br><sub>${RUNS.post.source}</sub>` },
        }),
        shown("test error 0.0692 (full-size run)\nloss 1.1268 before training"),
      ]),
      code("await show(lossCurves(net.losses));", [
        figure([{ type: "scatter", mode: "lines", y: [1.13, 0.69, 0.47] }]),
      ]),
      markdown(
        "## What we saw\n\nThe untrained loss was 1.1268; at full size the error is 6.92%, " +
          "against the post's 7.09%.\n\nTry this:\n\n- set `threshold: 1` and compare 0.5\n\n" +
          "Next: [02. Beta](02_beta.ipynb)",
      ),
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** Ways to break the good notebook, each with the rule that must catch it. */
const BREAKS: [string, string, (nb: Notebook) => void][] = [
  ["a link to a missing file", "links", (nb) => {
    nb.cells[2].source += " See [the old notes](03_notes.ipynb).";
  }],
  ["a made-up address for the post", "known-urls", (nb) => {
    nb.cells[2].source += " [post](https://mbacvanski.github.io/blog/ff)";
  }],
  ["a stale lib/ path", "lib-paths", (nb) => {
    nb.cells[2].source += " The layer is in `lib/layer.ts`.";
  }],
  ["no header title", "header", (nb) => {
    nb.cells[0].source = String(nb.cells[0].source).replace("# 1. ", "# ");
  }],
  ["no run time in the header", "header", (nb) => {
    nb.cells[0].source = String(nb.cells[0].source).replace("Run time: about 2 min", "");
  }],
  ["no setup() in the second cell", "setup-cell", (nb) => {
    nb.cells[1].source = 'import { runSize } from "../lib/mod.ts";\nconst size = runSize();';
  }],
  ["no closing cell", "closing", (nb) => {
    nb.cells.pop();
  }],
  ['no "Next:" link', "closing", (nb) => {
    nb.cells.at(-1)!.source = String(nb.cells.at(-1)!.source).replace(/Next:.*$/, "");
  }],
  ["a closing number no output shows", "closing-numbers", (nb) => {
    nb.cells.at(-1)!.source = String(nb.cells.at(-1)!.source).replace("1.1268", "1.1300");
  }],
  [
    "a closing number near only a less precise output (0.428 against a 0)",
    "closing-numbers",
    (nb) => {
      nb.cells[4].outputs!.push(shown("mistakes: 0"));
      nb.cells.at(-1)!.source = String(nb.cells.at(-1)!.source).replace("6.92%", "6.92% (0.428)");
    },
  ],
  ["an output of 41 lines", "output-length", (nb) => {
    nb.cells[4].outputs!.push(shown(Array.from({ length: 41 }, (_, i) => `line ${i}`).join("\n")));
  }],
  ["a histogram of one spike", "figures", (nb) => {
    nb.cells[3].outputs![0] = figure([{ type: "histogram", x: [0, 0, 0, 0, 0.001] }], {
      title: { text: `<sub>${RUNS.post.source}</sub>` },
    });
  }],
  ["a flat line", "figures", (nb) => {
    nb.cells[4].outputs![0] = figure([{ type: "scatter", mode: "lines", y: [2, 2, 2, 2] }]);
  }],
  ["an empty trace", "figures", (nb) => {
    nb.cells[4].outputs![0] = figure([{ type: "scatter", y: [] }]);
  }],
  ["no axis title", "figures", (nb) => {
    nb.cells[4].outputs![0] = figure([{ type: "scatter", y: [3, 2, 1] }], { xaxis: {} });
  }],
  ["a figure from a run file without its source line", "run-sources", (nb) => {
    nb.cells[3].outputs![0] = figure([{ type: "histogram", x: spread }]);
  }],
  ["outputs made from an older run file", "run-sources", (nb) => {
    nb.cells[3].outputs![1] = shown(
      `${RUNS.post.source.replace("01d4d4d", "1234567")}\ntest error 0.0692\nloss 1.1268`,
    );
  }],
  ["a full-size number no run file has", "run-numbers", (nb) => {
    nb.cells[2].source = "At full size the post's recipe scores 6.5%.";
  }],
];

async function withFixture(fn: (ctx: Omit<RuleContext, "path">, dir: string) => Promise<void>) {
  // A folder beside lib/, as notebooks/ is, so that `../lib/...` resolves as it does there.
  const dir = await Deno.makeTempDir({ dir: ROOT, prefix: ".nbtest-rules-" });
  try {
    await Deno.writeTextFile(`${dir}/README.md`, "# Notebooks\n\n[01](01_alpha.ipynb)\n");
    await Deno.writeTextFile(`${dir}/01_alpha.ipynb`, "{}");
    await Deno.writeTextFile(`${dir}/02_beta.ipynb`, "{}");
    await fn({ root: ROOT, notebooks: ["01_alpha.ipynb", "02_beta.ipynb"], runs: RUNS }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a notebook that follows the contract passes every rule", async () => {
  await withFixture(async (ctx, dir) => {
    assertEquals(checkNotebook(goodNotebook(), { ...ctx, path: `${dir}/01_alpha.ipynb` }), []);
    // The last notebook links back to the first, or to README.md.
    const last = goodNotebook();
    last.cells[0].source = String(last.cells[0].source).replace("# 1.", "# 2.");
    last.cells.at(-1)!.source = String(last.cells.at(-1)!.source)
      .replace("(02_beta.ipynb)", "(README.md)");
    assertEquals(checkNotebook(last, { ...ctx, path: `${dir}/02_beta.ipynb` }), []);
    await Promise.resolve();
  });
});

for (const [what, rule, breakIt] of BREAKS) {
  Deno.test(`a notebook with ${what} fails rule "${rule}"`, async () => {
    await withFixture(async (ctx, dir) => {
      const notebook = goodNotebook();
      breakIt(notebook);
      const problems = checkNotebook(notebook, { ...ctx, path: `${dir}/01_alpha.ipynb` });
      assert(
        problems.some((problem) => problem.startsWith(`${rule}: `)),
        `expected a "${rule}" problem, got ${JSON.stringify(problems)}`,
      );
      await Promise.resolve();
    });
  });
}
