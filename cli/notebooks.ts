/**
 * `deno task notebooks`: runs the notebooks in notebooks/ top to bottom, each in a fresh Deno
 * kernel, headless, through Jupyter (`jupyter nbconvert --execute`) and the kernelspec kept in
 * notebooks/.jupyter.
 *
 * Executed copies go to .out/notebooks/ with plotly.js added once, so that each opens (or
 * exports to html) as a page that draws offline. `--inplace` writes them back into notebooks/
 * instead, without the library, so that a committed notebook stays small: each figure keeps
 * its plotly JSON (interactive in JupyterLab and VS Code) and gets a PNG drawn by headless
 * Chromium for viewers that run no scripts (GitHub); without Chromium, a line of html saying
 * that the figure draws when the notebook runs.
 *
 * Figures are made without plotly.js in the kernel (`FF_INLINE_PLOTLY=0`, see lib/plot.ts):
 * the Deno kernel can drop a multi-megabyte output, and with it the outputs that follow.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../lib/files.ts";
import { type Figure, plotlyScriptTag, plotlySource } from "../lib/plot/plot.ts";

const USAGE = `Usage: deno task notebooks [flags] [NAME ...]

Runs the notebooks top to bottom, each in a fresh Deno kernel, through Jupyter.

  NAME          only these notebooks: 01, 04_training or 04_training.ipynb (default: all)
  --quick       tiny runs, seconds per notebook (sets FF_QUICK=1)
  --full        the post's full recipe, hours on a CPU (sets FF_FULL=1)
  --inplace     write the executed notebooks back into notebooks/, without plotly.js
  --out DIR     where executed copies go otherwise (default .out/notebooks)
  --html        also export each executed copy to a self-contained html page
  --timeout S   stop a cell after S seconds (default: no limit)
  --help        this text

Needs Jupyter's nbconvert (Debian: apt-get install jupyter-nbconvert).`;

/** The folder of the notebooks. */
export const NOTEBOOKS_DIR: string = new URL("../notebooks", import.meta.url).pathname;

/** The folder Jupyter is pointed at (JUPYTER_PATH) to find the repository's Deno kernelspec. */
export const JUPYTER_DIR: string = `${NOTEBOOKS_DIR}/.jupyter`;

/** Run sizes as lib/run_size.ts reads them. */
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
  text?: string | string[];
  ename?: string;
  evalue?: string;
  [key: string]: unknown;
}

const PLOTLY_JSON = "application/vnd.plotly.v1+json";

/** The html a committed figure shows in place of plotly.js and its drawing script. */
export const COMMITTED_FIGURE_HTML =
  `<p><em>An interactive plotly figure: its data is saved in this output, and it draws when ` +
  `the notebook runs. plotly.js (4.7 MB) is left out of the saved notebook to keep it small.` +
  `</em></p>`;

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

/** The environment of a notebook run: the repository's kernelspec, the run size, no inlining. */
function kernelEnv(
  size: Size | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  const inherited = Deno.env.get("JUPYTER_PATH");
  const env: Record<string, string> = {
    JUPYTER_PATH: inherited ? `${JUPYTER_DIR}:${inherited}` : JUPYTER_DIR,
    FF_INLINE_PLOTLY: "0",
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
  /** Runs allowed while outputs go missing (see {@linkcode missingOutputs}). Default 3. */
  attempts?: number;
}

/**
 * A statement at the top level of a cell (not indented) that shows one output: a report or a
 * display. Each such statement must have left an output.
 */
const SHOWS_ONE = /^await (?:size\.report|Deno\.jupyter\.display)\(/gm;

/**
 * The outputs an executed notebook lacks, one line per cell: cells with fewer outputs than
 * top-level `await size.report(…)` and `await Deno.jupyter.display(…)` statements.
 *
 * Why look: the Deno kernel now and then drops an output on its way to Jupyter (its iopub
 * socket discards a message when Jupyter reads too slowly, as on a busy machine), and a
 * notebook that lost one is not fit to read or commit.
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
    ).length;
    return shown < expected ? [`cell ${index}: ${shown} of ${expected} outputs`] : [];
  });
}

/**
 * Runs a notebook top to bottom in a fresh Deno kernel and returns the executed notebook,
 * running it again (up to `attempts` runs) while outputs are missing. Throws if a cell fails,
 * with Jupyter's account of the failure, or if every run lost outputs.
 *
 * @example
 * ```ts
 * const { notebook, seconds } = await executeNotebook("notebooks/04_training.ipynb", { size: "quick" });
 * ```
 */
export async function executeNotebook(
  path: string,
  { attempts = 3, ...options }: ExecuteOptions = {},
): Promise<{ notebook: Notebook; seconds: number }> {
  const name = path.replace(/^.*\//, "");
  for (let attempt = 1;; attempt++) {
    const result = await executeOnce(path, options);
    const missing = missingOutputs(result.notebook);
    if (missing.length === 0) return result;
    const lost = `${name} lost outputs on the way from the kernel (${missing.join("; ")})`;
    if (attempt >= attempts) throw new Error(`${lost} in each of ${attempts} runs`);
    console.error(`${lost}: running it again`);
  }
}

async function executeOnce(
  path: string,
  { size, timeoutSeconds, log = "piped", env }: ExecuteOptions,
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

/**
 * A copy of `notebook` whose first figure carries plotly.js, so that every figure draws, with
 * no network, wherever its outputs become a page (nbconvert's html, a notebook viewer).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile(".out/04.ipynb", serialize(await withPlotly(notebook)));
 * ```
 */
export async function withPlotly(notebook: Notebook): Promise<Notebook> {
  const copy = structuredClone(notebook);
  const first = outputs(copy).find(({ output }) => output.data?.[PLOTLY_JSON] !== undefined);
  if (first?.output.data) {
    const data = first.output.data;
    data["text/html"] = (await plotlyScriptTag()) + text(data["text/html"]);
  }
  return copy;
}

/** Draws a figure and returns the PNG, base64-encoded as notebooks store images. */
export type DrawPng = (figure: Figure) => Promise<string>;

/**
 * A copy of `notebook` fit to commit: every figure keeps its plotly JSON and plain text, and
 * loses its html (plotly.js and the script that draws). With `drawPng` the figure gets a PNG in
 * its place, which viewers that run no scripts show; without, {@linkcode COMMITTED_FIGURE_HTML}.
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

const CHROMIUMS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

function findOnPath(names: string[]): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  for (const name of names) {
    for (const dir of dirs) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch {
        // not in this folder
      }
    }
  }
  return undefined;
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
  const chromium = findOnPath(CHROMIUMS);
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
    await Deno.remove(png).catch(() => {});
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
    }).output();
    if (!success) {
      throw new Error(
        `Chromium could not draw a figure: ${
          new TextDecoder().decode(stderr).trim().split("\n").at(-1)
        }`,
      );
    }
    return base64(await Deno.readFile(png));
  };
  return { draw, close: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

/**
 * The notebook as Jupyter writes it: one-space indent, trailing newline.
 *
 * @example
 * ```ts
 * await writeFileAtomic("notebooks/04_training.ipynb", serialize(notebook));
 * ```
 */
export function serialize(notebook: Notebook): string {
  return JSON.stringify(notebook, null, 1) + "\n";
}

/**
 * Exports an executed notebook to a standalone html page in `outDir` and returns its path.
 * MathJax is left out: it would be fetched from a CDN, and the page must work offline.
 *
 * @example
 * ```ts
 * const html = await exportHtml(".out/notebooks/04_training.ipynb", ".out/notebooks");
 * ```
 */
export async function exportHtml(ipynbPath: string, outDir: string): Promise<string> {
  const { ok, stderr } = await run(
    [
      "nbconvert",
      "--to",
      "html",
      "--HTMLExporter.exclude_input_prompt=True",
      "--HTMLExporter.exclude_output_prompt=True",
      "--HTMLExporter.mathjax_url=",
      "--output-dir",
      outDir,
      ipynbPath,
    ],
    kernelEnv(undefined),
    "piped",
  );
  if (!ok) throw new Error(`html export of ${ipynbPath} failed:\n${stderr.trim()}`);
  return `${outDir}/${ipynbPath.replace(/^.*\//, "").replace(/\.ipynb$/, ".html")}`;
}

/** Parsed command line. */
export interface NotebooksOptions {
  names: string[];
  size?: Size;
  inplace: boolean;
  out: string;
  html: boolean;
  timeoutSeconds?: number;
}

/**
 * Reads the command line; throws a one-line error for anything it cannot use.
 *
 * @example
 * ```ts
 * parseNotebooksArgs(["--quick", "04"]); // { names: ["04"], size: "quick", inplace: false, ... }
 * ```
 */
export function parseNotebooksArgs(args: string[]): NotebooksOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        quick: { type: "boolean" },
        full: { type: "boolean" },
        inplace: { type: "boolean" },
        html: { type: "boolean" },
        out: { type: "string" },
        timeout: { type: "string" },
        help: { type: "boolean" },
      },
    });
  } catch (e) {
    throw new Error(`${(e as Error).message.split(".")[0]}; see --help`);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (values.quick && values.full) throw new Error("--quick and --full exclude each other");
  if (values.inplace && values.out) {
    throw new Error("--inplace writes into notebooks/: leave out --out");
  }
  let timeoutSeconds: number | undefined;
  if (values.timeout !== undefined) {
    timeoutSeconds = Number(values.timeout);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
      throw new Error(`--timeout must be a whole number of seconds >= 1, got "${values.timeout}"`);
    }
  }
  return {
    names: positionals,
    size: values.quick ? "quick" : values.full ? "full" : undefined,
    inplace: values.inplace ?? false,
    out: values.out ?? new URL("../.out/notebooks", import.meta.url).pathname,
    html: values.html ?? false,
    timeoutSeconds,
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

async function main(args: string[]): Promise<number> {
  const options = parseNotebooksArgs(args);
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  const paths = listNotebooks(options.names);
  const missing = await jupyterMissing();
  if (missing) throw new Error(`${missing}; see --help`);
  if (!options.inplace) await Deno.mkdir(options.out, { recursive: true });
  const pngs = options.inplace ? await chromiumPngs() : undefined;
  if (options.inplace && !pngs) {
    console.error("no Chromium on PATH: committed figures get a line of html instead of a PNG");
  }
  const failures: string[] = [];
  for (const path of paths) {
    const name = path.replace(/^.*\//, "");
    console.log(`${name}: running${options.size ? ` (${options.size})` : ""}…`);
    try {
      const { notebook, seconds } = await executeNotebook(path, {
        size: options.size,
        timeoutSeconds: options.timeoutSeconds,
        log: "inherit",
      });
      let written: string;
      if (options.inplace) {
        written = path;
        await writeFileAtomic(written, serialize(await forCommit(notebook, pngs?.draw)));
        const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", written] })
          .output();
        if (!fmt.success) throw new Error(`deno fmt ${written} failed`);
      } else {
        written = `${options.out}/${name}`;
        await writeFileAtomic(written, serialize(await withPlotly(notebook)));
        if (options.html) console.log(`  ${await exportHtml(written, options.out)}`);
      }
      const size = (await Deno.stat(written)).size;
      console.log(
        `${name}: done in ${seconds.toFixed(1)} s, wrote ${written} (${megabytes(size)})`,
      );
    } catch (e) {
      failures.push(name);
      console.error(`${name}: ${(e as Error).message}`);
    }
  }
  await pngs?.close();
  if (failures.length > 0) {
    console.error(`failed: ${failures.join(", ")}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
