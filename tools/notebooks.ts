/**
 * Running the notebooks headless, as `deno task notebooks` (cli/notebooks.ts) and the tests do:
 * each top to bottom in a fresh Deno kernel through Jupyter (`jupyter nbconvert --execute`) with
 * the kernelspec kept in notebooks/.jupyter; checking that no output went missing; and turning
 * an executed notebook into the copy that is committed.
 *
 * An executed notebook carries plotly.js in the outputs of `await loadPlotly()` (its first
 * cell), so it opens, or exports to html, as a page that draws every figure offline. A committed
 * one does not: each figure keeps its plotly JSON (interactive in JupyterLab and VS Code) and
 * gets a PNG drawn by headless Chromium for viewers that run no scripts (GitHub).
 *
 * @module
 */
import { type Figure, PLOTLY_PART_METADATA, plotlySource } from "../lib/plot/plot.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { findChromium } from "./chromium.ts";

/** The folder of the notebooks. */
export const NOTEBOOKS_DIR: string = new URL("../notebooks", import.meta.url).pathname;

/** The folder Jupyter is pointed at (JUPYTER_PATH) to find the repository's Deno kernelspec. */
export const JUPYTER_DIR: string = `${NOTEBOOKS_DIR}/.jupyter`;

/** Run sizes as lib/notebook.ts reads them. */
export type Size = "quick" | "default" | "full";

/** A notebook as nbformat 4 stores it (the parts this module reads). */
export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** One cell. Jupyter stores multi-line text as a string or as a list of lines. */
export interface Cell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  outputs?: Output[];
  [key: string]: unknown;
}

/** One output of a code cell. */
export interface Output {
  output_type: "stream" | "display_data" | "execute_result" | "error" | "update_display_data";
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  text?: string | string[];
  ename?: string;
  evalue?: string;
  [key: string]: unknown;
}

const PLOTLY_JSON = "application/vnd.plotly.v1+json";

/** The html a committed figure shows where Chromium could not draw a PNG of it. */
export const COMMITTED_FIGURE_HTML =
  `<p><em>An interactive plotly figure: its data is saved in this output, and it draws when ` +
  `the notebook runs.</em></p>`;

/**
 * Text of a multi-line field, whichever way Jupyter stored it.
 *
 * @example
 * ```ts
 * text(["a\n", "b"]); // "a\nb"
 * ```
 */
export function text(value: unknown): string {
  if (Array.isArray(value)) return value.join("");
  return typeof value === "string" ? value : "";
}

/**
 * Paths of the notebooks to run: all of notebooks/*.ipynb, or those `names` pick by prefix.
 *
 * @example
 * ```ts
 * listNotebooks(["04"]); // ["/…/notebooks/04_training.ipynb"]
 * ```
 */
export function listNotebooks(names: string[] = []): string[] {
  const all = [...Deno.readDirSync(NOTEBOOKS_DIR)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".ipynb"))
    .map((entry) => entry.name)
    .sort();
  if (names.length === 0) return all.map((name) => `${NOTEBOOKS_DIR}/${name}`);
  return names.map((wanted) => {
    const stem = wanted.replace(/^.*\//, "").replace(/\.ipynb$/, "");
    const matches = all.filter((name) => name.startsWith(stem));
    if (matches.length !== 1) {
      throw new Error(
        `"${wanted}" ${matches.length === 0 ? "matches no" : "matches more than one"} notebook: ` +
          `use one of ${all.map((name) => name.replace(/\.ipynb$/, "")).join(", ")}`,
      );
    }
    return `${NOTEBOOKS_DIR}/${matches[0]}`;
  });
}

/** The environment of a notebook run: the repository's kernelspec and the run size. */
function kernelEnv(
  size: Size | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  const inherited = Deno.env.get("JUPYTER_PATH");
  const env: Record<string, string> = {
    JUPYTER_PATH: inherited ? `${JUPYTER_DIR}:${inherited}` : JUPYTER_DIR,
    // Tracebacks and logged values without terminal colour codes in the saved outputs.
    NO_COLOR: "1",
  };
  if (size) {
    env.FF_QUICK = size === "quick" ? "1" : "0";
    env.FF_FULL = size === "full" ? "1" : "0";
  }
  return { ...env, ...extra };
}

async function run(
  args: string[],
  env: Record<string, string>,
  log: "inherit" | "piped",
): Promise<{ ok: boolean; stderr: string }> {
  let output;
  try {
    output = await new Deno.Command("jupyter", {
      args,
      env,
      stdin: "null",
      stdout: log,
      stderr: log,
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        "`jupyter` is not on PATH: install nbconvert (apt-get install jupyter-nbconvert)",
      );
    }
    throw e;
  }
  const stderr = log === "piped" ? new TextDecoder().decode(output.stderr) : "";
  return { ok: output.success, stderr };
}

/**
 * Why notebooks cannot run here (no jupyter, no nbconvert, or the Deno kernelspec not found),
 * or undefined when they can.
 *
 * @example
 * ```ts
 * const missing = await jupyterMissing();
 * Deno.test({ name: "runs 01", ignore: missing !== undefined, fn: () => {} });
 * ```
 */
export async function jupyterMissing(): Promise<string | undefined> {
  try {
    const { ok, stderr } = await run(["nbconvert", "--version"], kernelEnv(undefined), "piped");
    if (!ok) return `\`jupyter nbconvert\` does not run (${stderr.trim().split("\n").at(-1)})`;
    // Read it ourselves: `jupyter kernelspec` comes in a package that nbconvert does not need.
    const spec = `${JUPYTER_DIR}/kernels/deno/kernel.json`;
    const argv = JSON.parse(await Deno.readTextFile(spec)).argv;
    if (!Array.isArray(argv) || argv[1] !== "jupyter") {
      return `${spec} does not start \`deno jupyter --kernel\``;
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Options of {@linkcode executeNotebook}. */
export interface ExecuteOptions {
  /** The run size; default: whatever FF_QUICK and FF_FULL say in this environment. */
  size?: Size;
  /** Seconds a cell may take; default no limit. */
  timeoutSeconds?: number;
  /** "inherit" shows Jupyter's log as it runs; "piped" keeps it for the error message. */
  log?: "inherit" | "piped";
  /** More environment variables for the kernel, e.g. `FF_MNIST_DIR`. */
  env?: Record<string, string>;
}

/**
 * A statement at the top level of a cell (not indented) that shows an output: a report, a
 * `show`, `setup`'s line, or a plain display. Each such statement must have left one.
 * (`loadPlotly`'s pieces are counted by their own numbers; a committed notebook leaves them out.)
 */
const SHOWS_ONE =
  /^(?:const [^=\n]+= )?await (?:size\.report|show|setup|Deno\.jupyter\.display)\(/gm;

/** Which piece of plotly.js an output is, if it is one. */
function plotlyPart(output: Output): { index: number; count: number } | undefined {
  return output.metadata?.[PLOTLY_PART_METADATA] as { index: number; count: number } | undefined;
}

/**
 * The outputs an executed notebook lacks, one line per cell: cells with fewer outputs than
 * top-level `await size.report(…)`, `await show(…)`, `await loadPlotly()` and
 * `await Deno.jupyter.display(…)` statements, and pieces of plotly.js that did not arrive.
 *
 * Why look: an output that reaches Jupyter after its cell ended is dropped, and a notebook
 * that lost one is not fit to read or commit. (lib/'s displays wait until the kernel sent them;
 * a plain `Deno.jupyter.display` at the end of a cell does not.)
 *
 * @example
 * ```ts
 * missingOutputs(notebook); // ["cell 7: 1 of 2 outputs"]
 * ```
 */
export function missingOutputs(notebook: Notebook): string[] {
  return notebook.cells.flatMap((cell, index) => {
    if (cell.cell_type !== "code") return [];
    const expected = text(cell.source).match(SHOWS_ONE)?.length ?? 0;
    const shown = (cell.outputs ?? []).filter((output) =>
      output.output_type === "display_data" || output.output_type === "execute_result"
    );
    const lines = shown.length < expected
      ? [`cell ${index}: ${shown.length} of ${expected} outputs`]
      : [];
    const parts = shown.map(plotlyPart).filter((part) => part !== undefined);
    const count = parts[0]?.count ?? 0;
    const lost = Array.from({ length: count }, (_, i) => i)
      .filter((i) => !parts.some((part) => part.index === i));
    if (lost.length > 0) {
      lines.push(
        `cell ${index}: plotly.js part${lost.length > 1 ? "s" : ""} ${
          lost.map((i) => i + 1).join(", ")
        } of ${count} missing`,
      );
    }
    return lines;
  });
}

/**
 * Runs a notebook top to bottom in a fresh Deno kernel and returns the executed notebook.
 * Throws if a cell fails, with Jupyter's account of the failure, or if outputs are missing.
 *
 * @example
 * ```ts
 * const { notebook, seconds } = await executeNotebook("notebooks/04_training.ipynb", { size: "quick" });
 * ```
 */
export async function executeNotebook(
  path: string,
  { size, timeoutSeconds, log = "piped", env }: ExecuteOptions = {},
): Promise<{ notebook: Notebook; seconds: number }> {
  const dir = await Deno.makeTempDir({ prefix: "ff-notebook-" });
  const name = path.replace(/^.*\//, "");
  try {
    const started = performance.now();
    const { ok, stderr } = await run(
      [
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        // -1: no limit; default-size cells train for minutes.
        `--ExecutePreprocessor.timeout=${timeoutSeconds ?? -1}`,
        // No per-cell timestamps: they would change every committed notebook on every run.
        "--ExecutePreprocessor.record_timing=False",
        "--output-dir",
        dir,
        path,
      ],
      kernelEnv(size, env),
      log,
    );
    const seconds = (performance.now() - started) / 1000;
    if (!ok) {
      const tail = stderr.trim().split("\n").slice(-30).join("\n");
      throw new Error(`${name} failed${tail ? `:\n${tail}` : " (Jupyter's log is above)"}`);
    }
    const notebook = JSON.parse(await Deno.readTextFile(`${dir}/${name}`)) as Notebook;
    const missing = missingOutputs(notebook);
    if (missing.length > 0) {
      throw new Error(`${name} lost outputs on the way from the kernel: ${missing.join("; ")}`);
    }
    return { notebook, seconds };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Every output of every code cell, with the index of its cell.
 *
 * @example
 * ```ts
 * const errors = outputs(notebook).filter(({ output }) => output.output_type === "error");
 * ```
 */
export function outputs(notebook: Notebook): { cell: number; output: Output }[] {
  return notebook.cells.flatMap((cell, index) =>
    (cell.outputs ?? []).map((output) => ({ cell: index, output }))
  );
}

/** Draws a figure and returns the PNG, base64-encoded as notebooks store images. */
export type DrawPng = (figure: Figure) => Promise<string>;

/**
 * A copy of `notebook` fit to commit: every figure keeps its plotly JSON and plain text, and
 * loses its html (the script that draws). With `drawPng` the figure gets a PNG in its place,
 * which viewers that run no scripts show; without, {@linkcode COMMITTED_FIGURE_HTML}. The pieces
 * of plotly.js go: a reader has no use for a line about them, and a run puts them back.
 *
 * A live figure (`trainingPlot`) is one output that Jupyter updated in place while its cell
 * ran: the executed notebook holds only its last state, which is what gets the PNG. An
 * `update_display_data` left in an output list (no executor that follows nbformat writes one)
 * is dropped: it only repeats a display above it.
 *
 * @example
 * ```ts
 * const pngs = await chromiumPngs();
 * const committed = await forCommit(notebook, pngs?.draw);
 * await pngs?.close();
 * ```
 */
export async function forCommit(notebook: Notebook, drawPng?: DrawPng): Promise<Notebook> {
  const copy = structuredClone(notebook);
  for (const cell of copy.cells) {
    if (!cell.outputs) continue;
    cell.outputs = cell.outputs.filter((output) =>
      plotlyPart(output) === undefined && output.output_type !== "update_display_data"
    );
  }
  for (const { output } of outputs(copy)) {
    const figure = output.data?.[PLOTLY_JSON] as Figure | undefined;
    if (!output.data || !figure) continue;
    if (drawPng) {
      // Without html, viewers fall back to the PNG; with it, they would show the html.
      delete output.data["text/html"];
      output.data["image/png"] = await drawPng(figure);
    } else {
      output.data["text/html"] = COMMITTED_FIGURE_HTML;
    }
  }
  return copy;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * A {@linkcode DrawPng} that screenshots each figure in headless Chromium, offline (plotly.js
 * from a local file), at the figure's own size or 800 × 450; undefined when there is no
 * Chromium. Call `close` to remove its temporary folder.
 *
 * @example
 * ```ts
 * const pngs = await chromiumPngs();
 * const base64 = await pngs?.draw(lossCurves([[0.9, 0.5, 0.3]]));
 * await pngs?.close();
 * ```
 */
export async function chromiumPngs(): Promise<
  { draw: DrawPng; close: () => Promise<void> } | undefined
> {
  const chromium = findChromium();
  if (!chromium) return undefined;
  const dir = await Deno.makeTempDir({ prefix: "ff-figure-png-" });
  await Deno.writeTextFile(`${dir}/plotly.min.js`, await plotlySource());
  const draw: DrawPng = async (figure) => {
    const layout = figure.layout as { width?: number; height?: number };
    const [width, height] = [layout.width ?? 800, layout.height ?? 450];
    const json = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");
    await Deno.writeTextFile(
      `${dir}/figure.html`,
      `<!doctype html><meta charset="utf-8"><script src="plotly.min.js"></script>
<body style="margin:0"><div id="figure"></div><script>
Plotly.newPlot("figure", ${json(figure.data)}, ${
        json({ ...layout, width, height })
      }, { staticPlot: true });
</script></body>`,
    );
    const png = `${dir}/figure.png`;
    // On a loaded machine headless Chromium now and then exits 0 without writing the screenshot:
    // try again rather than lose the notebook's run.
    let last = "";
    for (let attempt = 1; attempt <= 3; attempt++) {
      await Deno.remove(png).catch(() => {});
      last = await screenshot(chromium, dir, width, height, png);
      const written = await Deno.readFile(png).catch(() => undefined);
      if (written) return base64(written);
    }
    throw new Error(`Chromium could not draw a figure (3 tries): ${last || "it wrote no PNG"}`);
  };
  return { draw, close: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

/** One headless Chromium screenshot of `dir`/figure.html; Chromium's last line of error, if any. */
async function screenshot(
  chromium: string,
  dir: string,
  width: number,
  height: number,
  png: string,
): Promise<string> {
  const { success, stderr } = await new Deno.Command(chromium, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--hide-scrollbars",
      `--user-data-dir=${dir}/profile`,
      `--window-size=${width},${height}`,
      "--virtual-time-budget=5000",
      `--screenshot=${png}`,
      `file://${dir}/figure.html`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
  return success ? "" : new TextDecoder().decode(stderr).trim().split("\n").at(-1) ?? "";
}

/**
 * The notebook as Jupyter writes it (one-space indent, trailing newline), except that an array
 * of numbers takes one line: a figure's data (a digit's 784 pixels) would otherwise take a line
 * per number, and a notebook of images passes a megabyte in indentation alone.
 *
 * @example
 * ```ts
 * await writeFileAtomic("notebooks/04_training.ipynb", serialize(notebook));
 * ```
 */
export function serialize(notebook: Notebook): string {
  // Only pretty-printing puts a line break in JSON (one inside a string is written "\\n").
  return JSON.stringify(notebook, null, 1).replace(
    /\[\n\s*(?:-?[\d.eE+-]+,\n\s*)*-?[\d.eE+-]+\n\s*\]/g,
    (array) => `[${array.slice(1, -1).split(",").map((n) => n.trim()).join(", ")}]`,
  ) + "\n";
}

/**
 * Exports an executed notebook to an html page in `outDir`, as plain
 * `jupyter nbconvert --to html` does, and returns its path. The page draws every figure offline:
 * plotly.js is in the notebook's outputs.
 *
 * @example
 * ```ts
 * const html = await exportHtml(".out/notebooks/04_training.ipynb", ".out/notebooks");
 * ```
 */
export async function exportHtml(ipynbPath: string, outDir: string): Promise<string> {
  const { ok, stderr } = await run(
    ["nbconvert", "--to", "html", "--output-dir", outDir, ipynbPath],
    kernelEnv(undefined),
    "piped",
  );
  if (!ok) throw new Error(`html export of ${ipynbPath} failed:\n${stderr.trim()}`);
  return `${outDir}/${ipynbPath.replace(/^.*\//, "").replace(/\.ipynb$/, ".html")}`;
}

/**
 * Writes `notebook`, executed from `path`, back to `path` as it is committed
 * ({@linkcode forCommit}), formatted as `deno fmt` wants it.
 *
 * @example
 * ```ts
 * const { notebook } = await executeNotebook(path);
 * await writeCommitted(path, notebook, pngs?.draw);
 * ```
 */
export async function writeCommitted(
  path: string,
  notebook: Notebook,
  drawPng?: DrawPng,
): Promise<void> {
  await writeFileAtomic(path, serialize(await forCommit(notebook, drawPng)));
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", path] }).output();
  if (!fmt.success) throw new Error(`deno fmt ${path} failed`);
}
