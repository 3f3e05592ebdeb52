/**
 * The notebook contract (issue #21), as checks on a notebook's file: links, paths into lib/, the
 * header and closing cells, output length, figures that show something, and numbers that agree
 * with the outputs and the committed full-size runs. Static: nothing runs a kernel.
 *
 * Each problem is one line that starts with its rule's name, so that a test can say which rule
 * a broken notebook breaks.
 *
 * How numbers are checked (a convention a notebook can follow):
 * - The closing cell ("## What we saw", up to its "Try this"): every number written with a
 *   decimal point or a % sign, outside `code`, equals a number in the notebook's outputs (to the
 *   digits written), or is one of the published numbers in {@linkcode REFERENCE_NUMBERS}.
 * - Any markdown sentence or table row that says "full size" / "full-size": its numbers with a
 *   decimal point or % equal a number of a committed run's metrics.json (errors, seconds, in
 *   seconds, minutes or hours), or one in the outputs.
 * - Outputs drawn from a committed run carry its source line (`fullRun(name).source`,
 *   'full-size run "post": deno task train … · commit … · date · backend'): every such line in an
 *   output must be the current one of that run, so outputs made from an older run file fail; and
 *   every figure of a cell that calls `fullRun(`/`fullRuns(` or reads `.metrics` shows the line.
 */
import { dirname, resolve } from "node:path";
import type { Cell, Notebook, Output } from "../tools/notebooks.ts";
import { text } from "../tools/notebooks.ts";

/** The contract's links: to these hosts, only these addresses. */
export const KNOWN_URLS: Record<string, string[]> = {
  "mbacvanski.github.io": ["https://mbacvanski.github.io/blog/forward-forward-nn"],
  "arxiv.org": ["https://arxiv.org/abs/2212.13345"],
  "www.cs.toronto.edu": ["https://www.cs.toronto.edu/~hinton/ffcode.zip"],
  "github.com/mpezeshki": ["https://github.com/mpezeshki/pytorch_forward_forward"],
};

/**
 * Published numbers prose may quote without an output showing them: the post's training and
 * test error (0.0715, 0.0709), the paper's 1.36% and 1.4%, and ln 2 (the loss when every
 * goodness sits at θ).
 */
export const REFERENCE_NUMBERS: readonly number[] = [0.0715, 0.0709, 0.0136, 0.014, Math.LN2];

/** The most lines of text one code cell may show: a screen. */
export const MAX_OUTPUT_LINES = 40;

/** Fewest distinct values a histogram trace must have to show a distribution. */
export const MIN_HISTOGRAM_VALUES = 6;

/** A committed full-size run, as `fullRun` returns it. */
export interface RunInfo {
  metrics: Record<string, unknown>;
  source: string;
}

/** Where a notebook is and what is around it. */
export interface RuleContext {
  /** The notebook's path. */
  path: string;
  /** The repository root, which `lib/…` paths are relative to. */
  root: string;
  /** File names of every notebook in the notebook's folder, sorted. */
  notebooks: string[];
  /** Committed full-size runs by name. */
  runs: Record<string, RunInfo>;
}

const PLOTLY_JSON = "application/vnd.plotly.v1+json";

function markdownCells(notebook: Notebook): { cell: Cell; index: number }[] {
  return notebook.cells.flatMap((cell, index) =>
    cell.cell_type === "markdown" ? [{ cell, index }] : []
  );
}

/** Markdown without code: fenced blocks and inline code spans. */
function withoutCode(markdown: string): string {
  return markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
}

/** Link targets in markdown: `[text](target)` and `<a href="target">`. */
export function linkTargets(markdown: string): string[] {
  const md = [...markdown.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
  const html = [...markdown.matchAll(/<a\s[^>]*href="([^"]+)"/g)].map((m) => m[1]);
  return [...md, ...html];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Problems with the links and `lib/` paths of a markdown text in `dir`: a relative link must
 * name a file that is there; a link to the post, the paper, Hinton's code or the port must be
 * the contract's address; a `lib/…` path must exist in the repository.
 */
export function checkMarkdownLinks(
  markdown: string,
  { dir, root, where }: { dir: string; root: string; where: string },
): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^https?:\/\//.test(target)) {
      const url = new URL(target);
      const key = Object.keys(KNOWN_URLS).find((host) =>
        `${url.host}${url.pathname}`.startsWith(host)
      );
      if (key && !KNOWN_URLS[key].includes(target.replace(/#.*$/, ""))) {
        problems.push(`known-urls: ${where} links ${target}: use ${KNOWN_URLS[key].join(" or ")}`);
      }
      continue;
    }
    if (/^(#|mailto:|data:)/.test(target)) continue;
    const file = decodeURIComponent(target.replace(/[#?].*$/, ""));
    if (!exists(resolve(dir, file))) {
      problems.push(`links: ${where} links ${target}, which is not there`);
    }
  }
  for (const m of markdown.matchAll(/(?<![\w-])(?:\.\.?\/)*lib\/[\w./-]*\w/g)) {
    const path = m[0].replace(/^(?:\.\.?\/)+/, "");
    if (!exists(resolve(root, path))) {
      problems.push(`lib-paths: ${where} names ${m[0]}, which is not in the repository`);
    }
  }
  return problems;
}

/** A number as written in prose: its value, how many decimals, and whether it had a % sign. */
export interface WrittenNumber {
  written: string;
  value: number;
  decimals: number;
  percent: boolean;
}

/** The numbers with a decimal point or a % sign in `prose` (integers say counts, not results). */
export function writtenNumbers(prose: string, { all = false } = {}): WrittenNumber[] {
  const found: WrittenNumber[] = [];
  for (const m of prose.matchAll(/(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?%)?(?![\w])/g)) {
    const [written, whole, fraction = "", percent] = m;
    if (!all && !fraction && !percent) continue;
    const value = Number(whole.replace(/,/g, "") + fraction);
    found.push({ written, value, decimals: Math.max(0, fraction.length - 1), percent: !!percent });
  }
  return found;
}

/** True when `candidate`, rounded as `n` is written, gives `n` (a fraction, or a % when `percent`). */
function sameNumber(n: WrittenNumber, candidate: WrittenNumber): boolean {
  const scale = (x: WrittenNumber) => x.percent ? 1 / 100 : 1;
  const a = n.value * scale(n);
  const b = candidate.value * scale(candidate);
  // `n` must be `candidate` rounded as written: an output less precise than the prose (a "0"
  // against "0.428") cannot be where the prose's number came from.
  const written = 10 ** -n.decimals * scale(n);
  const shown = 10 ** -candidate.decimals * scale(candidate);
  if (shown > written * (1 + 1e-9)) return Math.abs(a - b) <= 1e-12;
  return Math.abs(a - b) <= 0.5 * written * (1 + 1e-9);
}

function exact(value: number): WrittenNumber {
  return { written: String(value), value, decimals: 12, percent: false };
}

/** What a reader sees of an output, as text (figures: their titles and annotations). */
function outputText(output: Output): string {
  const figure = output.data?.[PLOTLY_JSON] as { layout?: unknown; data?: unknown[] } | undefined;
  const parts = [text(output.text), text(output.data?.["text/plain"])];
  parts.push(text(output.data?.["text/markdown"]), text(output.data?.["text/html"]));
  if (figure) parts.push(JSON.stringify(figure.layout ?? {}));
  if (figure) {
    for (const trace of figure.data ?? []) {
      const { type, y, x, text: labels } = trace as Record<string, unknown>;
      if (type === "bar") parts.push(JSON.stringify([x, y]));
      if (labels) parts.push(JSON.stringify(labels));
    }
  }
  return parts.join("\n");
}

/** Numbers in a run's metrics a text may quote: all but the per-epoch losses. */
function runNumbers(metrics: Record<string, unknown>): WrittenNumber[] {
  const found: WrittenNumber[] = [];
  const walk = (value: unknown, key: string) => {
    if (key === "losses" || key === "config") return;
    if (typeof value === "number") {
      found.push(exact(value));
      if (/seconds/.test(key)) found.push(exact(value / 60), exact(value / 3600));
    } else if (Array.isArray(value)) value.forEach((v) => walk(v, key));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, /seconds/.test(key) ? key : k);
    }
  };
  walk(metrics, "");
  return found;
}

/** Characters of a line of output that fit across a notebook page; longer lines wrap. */
const PAGE_WIDTH = 120;

function screenLines(value: unknown): number {
  return text(value).replace(/\n+$/, "").split("\n")
    .reduce((sum, line) => sum + Math.max(1, Math.ceil(line.length / PAGE_WIDTH)), 0);
}

/**
 * Lines of text a cell's outputs take on screen, long lines wrapped (a figure or an image takes
 * none; html counts as its plain-text view).
 */
function shownLines(cell: Cell): number {
  let lines = 0;
  for (const output of cell.outputs ?? []) {
    const data = output.data ?? {};
    if (output.output_type === "stream") lines += screenLines(output.text);
    else if (data[PLOTLY_JSON] || data["image/png"]) continue;
    else if (data["text/markdown"]) lines += screenLines(data["text/markdown"]);
    else if (data["text/plain"]) lines += screenLines(data["text/plain"]);
    else if (output.output_type === "error") lines += 1;
  }
  return lines;
}

function distinct(values: unknown): number {
  return Array.isArray(values) ? new Set(values.flat(2).map(String)).size : 0;
}

function axisTitle(axis: unknown): string {
  const title = (axis as { title?: string | { text?: string } } | undefined)?.title;
  return (typeof title === "string" ? title : title?.text ?? "").trim();
}

/** Problems with one figure: empty or degenerate traces, missing axis titles. */
export function checkFigure(
  figure: { data?: unknown[]; layout?: unknown },
  where: string,
): string[] {
  const problems: string[] = [];
  const data = (figure.data ?? []) as Record<string, unknown>[];
  if (data.length === 0) return [`figures: ${where} has no traces`];
  let needsAxes = false;
  for (const [i, trace] of data.entries()) {
    const type = String(trace.type ?? "scatter");
    const name = `${where}, trace ${i} (${trace.name ?? type})`;
    const values = (key: string) => (Array.isArray(trace[key]) ? trace[key] as unknown[] : []);
    if (type === "histogram") {
      needsAxes = true;
      const shown = values("x").length ? values("x") : values("y");
      if (distinct(shown) < MIN_HISTOGRAM_VALUES) {
        problems.push(
          `figures: ${name} is a histogram of ${distinct(shown)} distinct values: ` +
            `it shows no distribution (keep more digits, or use a log axis)`,
        );
      }
    } else if (type === "scatter" || type === "bar") {
      needsAxes = true;
      const y = values("y");
      if (y.length === 0 && values("x").length === 0) problems.push(`figures: ${name} is empty`);
      if (
        type === "scatter" && y.length >= 3 && distinct(y) === 1 &&
        String(trace.mode ?? "lines").includes("lines")
      ) {
        problems.push(`figures: ${name} is a line of ${y.length} equal values`);
      }
    } else if (type === "heatmap") {
      const z = values("z");
      if (z.length === 0) problems.push(`figures: ${name} is empty`);
      else if (distinct(z) < 2) problems.push(`figures: ${name} is one colour`);
    }
  }
  if (needsAxes) {
    const layout = (figure.layout ?? {}) as Record<string, unknown>;
    for (const axis of ["xaxis", "yaxis"]) {
      if (!axisTitle(layout[axis])) problems.push(`figures: ${where} has no ${axis} title`);
    }
  }
  return problems;
}

/** The header cell: `# N. Title`, the post (or paper) linked, what you will learn, time, kernel. */
function checkHeader(notebook: Notebook, ctx: RuleContext, name: string): string[] {
  const first = notebook.cells[0];
  const number = Number(name.match(/^(\d+)_/)?.[1]);
  const source = first ? text(first.source) : "";
  const problems: string[] = [];
  const say = (what: string) => problems.push(`header: ${name}'s first cell ${what}`);
  if (first?.cell_type !== "markdown") return [`header: ${name} does not start with markdown`];
  if (!new RegExp(`^# ${number}\\. \\S`).test(source)) say(`must start "# ${number}. Title"`);
  const sources = [...KNOWN_URLS["mbacvanski.github.io"], ...KNOWN_URLS["arxiv.org"]];
  if (!linkTargets(source).some((target) => sources.includes(target))) {
    say("must link the post section it retells (or the paper)");
  }
  if (!/You will learn[^\n]*\n+\s*(?:[-*]|\d+\.) /.test(source)) {
    say('must have a "You will learn" list');
  }
  if (!/Run time: about \d+(?:\.\d+)? min/.test(source)) {
    say('must say "Run time: about N min" (measured at the default size)');
  }
  if (!/Deno/.test(source) || !linkTargets(source).some((t) => /(^|\/)README\.md$/.test(t))) {
    say("must say how to open it: the Deno kernel, with a link to README.md");
  }
  void ctx;
  return problems;
}

/** The second cell: the imports and `await setup()`. */
function checkSetupCell(notebook: Notebook, name: string): string[] {
  const cell = notebook.cells[1];
  const source = cell ? text(cell.source) : "";
  // `await setup(` or, from a namespace or a copied lib/, `await ff.setup(`.
  if (cell?.cell_type !== "code" || !/await (?:\w+\.)?setup\(/.test(source)) {
    return [
      `setup-cell: ${name}'s second cell must be code with its imports and \`await setup()\``,
    ];
  }
  const named = [...source.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}/g)]
    .flatMap((m) => m[1].split(",").map((s) => s.trim()).filter(Boolean));
  return named.length > 10
    ? [
      `setup-cell: ${name} imports ${named.length} names by name: import a few, the rest as a namespace`,
    ]
    : [];
}

/** The closing cell: "## What we saw", numbers from the outputs, "Try this", "Next:". */
function checkClosing(notebook: Notebook, ctx: RuleContext, name: string): string[] {
  const last = notebook.cells.at(-1);
  const source = last ? text(last.source) : "";
  const problems: string[] = [];
  const say = (what: string) => problems.push(`closing: ${name}'s last cell ${what}`);
  if (last?.cell_type !== "markdown" || !/^## What we saw/.test(source)) {
    return [`closing: ${name}'s last cell must be markdown starting "## What we saw"`];
  }
  if (!/Try this[^\n]*\n+\s*(?:[-*]|\d+\.) /.test(source)) say('must have a "Try this" list');
  const next = source.match(/Next:[^\n]*?\]\(([^)\s]+)\)/)?.[1];
  const file = `${name}.ipynb`;
  const after = ctx.notebooks[ctx.notebooks.indexOf(file) + 1];
  const wanted = after ? [after] : [ctx.notebooks[0], "README.md"];
  if (!next || !wanted.includes(next.replace(/^\.\//, "").replace(/#.*$/, ""))) {
    say(`must end with "Next:" and a relative link to ${wanted.join(" or ")}`);
  }
  const seen = source.slice(
    0,
    source.search(/Try this/) >= 0 ? source.search(/Try this/) : undefined,
  );
  const shown = notebook.cells.flatMap((cell) => (cell.outputs ?? []).map(outputText)).join("\n");
  const candidates = [
    ...writtenNumbers(shown, { all: true }),
    ...REFERENCE_NUMBERS.map(exact),
  ];
  for (const n of writtenNumbers(withoutCode(seen))) {
    if (!candidates.some((c) => sameNumber(n, c))) {
      problems.push(
        `closing-numbers: ${name}'s closing cell says ${n.written}, which no output shows`,
      );
    }
  }
  return problems;
}

/** Source lines of committed runs in outputs are current; figures drawn from runs show one. */
function checkRunSources(notebook: Notebook, ctx: RuleContext, name: string): string[] {
  const problems: string[] = [];
  notebook.cells.forEach((cell, index) => {
    const fromRun = cell.cell_type === "code" &&
      /\bfullRuns?\(|\.metrics\b/.test(text(cell.source));
    for (const output of cell.outputs ?? []) {
      const shown = outputText(output);
      for (const m of shown.matchAll(/full-size run \\?"([\w.-]+)\\?": [^\n<"\\]*/g)) {
        const run = ctx.runs[m[1]];
        if (!run) {
          problems.push(`run-sources: ${name} cell ${index} shows run "${m[1]}", not committed`);
        } else if (!m[0].replace(/\\"/g, '"').startsWith(run.source)) {
          problems.push(
            `run-sources: ${name} cell ${index} shows "${m[0]}" but the committed run is ` +
              `"${run.source}": run the notebook again`,
          );
        }
      }
      if (fromRun && output.data?.[PLOTLY_JSON] && !/full-size run \\?"/.test(shown)) {
        problems.push(
          `run-sources: ${name} cell ${index} draws a figure from a run file without its ` +
            "source line (fullRun(name).source, e.g. as a subtitle)",
        );
      }
    }
  });
  return problems;
}

/** Numbers in sentences about full-size runs equal a committed run's, or an output's. */
function checkRunNumbers(notebook: Notebook, ctx: RuleContext, name: string): string[] {
  const problems: string[] = [];
  const candidates = [
    ...Object.values(ctx.runs).flatMap((run) => runNumbers(run.metrics)),
    ...writtenNumbers(
      notebook.cells.flatMap((cell) => (cell.outputs ?? []).map(outputText)).join("\n"),
      { all: true },
    ),
    ...REFERENCE_NUMBERS.map(exact),
  ];
  for (const { cell, index } of markdownCells(notebook)) {
    const sentences = withoutCode(text(cell.source)).split(/(?<=[.!?])\s+(?=[A-Z(])|\n/);
    for (const sentence of sentences.filter((s) => /full[- ]size/i.test(s))) {
      for (const n of writtenNumbers(sentence)) {
        if (!candidates.some((c) => sameNumber(n, c))) {
          problems.push(
            `run-numbers: ${name} cell ${index} says ${n.written} of a full-size run, which ` +
              "no committed run file (notebooks/runs/*/metrics.json) nor output has",
          );
        }
      }
    }
  }
  return problems;
}

/**
 * Every problem `notebook` has with the contract; none means it follows it.
 *
 * @example
 * ```ts
 * checkNotebook(notebook, { path, root, notebooks, runs }); // ["closing: 02_single_layer's last cell …"]
 * ```
 */
export function checkNotebook(notebook: Notebook, ctx: RuleContext): string[] {
  const name = ctx.path.replace(/^.*\//, "").replace(/\.ipynb$/, "");
  const dir = dirname(ctx.path);
  const problems = [
    ...checkHeader(notebook, ctx, name),
    ...checkSetupCell(notebook, name),
    ...checkClosing(notebook, ctx, name),
  ];
  for (const { cell, index } of markdownCells(notebook)) {
    problems.push(
      ...checkMarkdownLinks(text(cell.source), {
        dir,
        root: ctx.root,
        where: `${name} cell ${index}`,
      }),
    );
  }
  notebook.cells.forEach((cell, index) => {
    if (cell.cell_type !== "code") return;
    const lines = shownLines(cell);
    if (lines > MAX_OUTPUT_LINES) {
      problems.push(
        `output-length: ${name} cell ${index} shows ${lines} lines of text (at most ` +
          `${MAX_OUTPUT_LINES}): show a table or a figure, or less`,
      );
    }
    (cell.outputs ?? []).forEach((output, o) => {
      if (output.output_type === ("update_display_data" as Output["output_type"])) {
        problems.push(`figures: ${name} cell ${index} keeps an update_display_data output`);
      }
      const figure = output.data?.[PLOTLY_JSON] as { data?: unknown[]; layout?: unknown };
      if (figure) problems.push(...checkFigure(figure, `${name} cell ${index} figure ${o}`));
    });
  });
  problems.push(...checkRunSources(notebook, ctx, name), ...checkRunNumbers(notebook, ctx, name));
  return problems;
}
