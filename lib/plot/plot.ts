/**
 * Plotly figures that show themselves in Jupyter, and the small set of figures the notebooks
 * and the training report draw.
 *
 * A {@linkcode Plot} shown with `show` (../jupyter.ts), returned as a cell's last expression or
 * passed to `Deno.jupyter.display` becomes a MIME bundle with three views, so that every viewer
 * finds one it can draw: `application/vnd.plotly.v1+json` for JupyterLab's and VS Code's plotly
 * renderers, `text/html` that draws with the page's plotly.js (classic Jupyter, nbconvert's
 * html), and `text/plain`.
 *
 * plotly.js itself (the 1.5 MB "cartesian" bundle, which has every trace type lib/ draws) gets
 * onto the page through {@linkcode loadPlotly}, in a notebook's first cell: in pieces of at most
 * {@linkcode PLOTLY_PART_CHARS} characters, since the Deno kernel loses outputs around a
 * multi-megabyte message, and anew each time the cell runs, since the kernel cannot know whether
 * the page it sends to (reloaded, a second tab) already has the library. The pieces are outputs
 * of that cell, so a saved notebook and its html export carry the library too, once.
 *
 * @module
 */
import { OPTIONAL } from "../deps.ts";
import { jupyterDisplay, type MimeBundle } from "../jupyter.ts";

export type { MimeBundle };

/** A plotly figure: traces and layout, exactly as `Plotly.newPlot` takes them. */
export interface Figure {
  data: object[];
  layout: object;
}

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

/** The plotly.js config of every figure: resizes with its cell, no plotly.com logo. */
const PLOTLY_CONFIG = { responsive: true, displaylogo: false };

/** The file of {@linkcode OPTIONAL}.plotly: plotly.js with only the 2-D trace types. */
const PLOTLY_FILE = "plotly-cartesian.min.js";

/** Trace types in that bundle (its README); others would draw nothing. */
export const PLOTLY_TRACE_TYPES: readonly string[] = [
  "bar",
  "box",
  "contour",
  "heatmap",
  "histogram",
  "histogram2d",
  "histogram2dcontour",
  "image",
  "pie",
  "scatter",
  "scatterternary",
  "violin",
];

/** The most characters of plotly.js that one output of {@linkcode loadPlotly} carries. */
export const PLOTLY_PART_CHARS = 250_000;

/** Output metadata key that marks a piece of plotly.js, for tools that rewrite notebooks. */
export const PLOTLY_PART_METADATA = "ff_plotly_part";

let plotlyText: Promise<string> | undefined;

/**
 * The source text of plotly.js (the pinned npm bundle), read from Deno's npm cache and kept for
 * the session.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { plotlySource } from "./plot.ts";
 * const source = await plotlySource();
 * assert(source.length > 1e6); // about 1.5 MB of JavaScript
 * ```
 */
export function plotlySource(): Promise<string> {
  plotlyText ??= readPlotlySource();
  plotlyText.catch(() => plotlyText = undefined); // let a later call retry after a failure
  return plotlyText;
}

async function readPlotlySource(): Promise<string> {
  // `import.meta.resolve` maps an npm specifier to a file only once the package is part of
  // this process's npm resolution; importing its package.json gets it there (downloading it
  // into the cache if needed) without running plotly.js, which needs a browser `window`.
  await import(`${OPTIONAL.plotly}/package.json`, { with: { type: "json" } });
  const url = import.meta.resolve(`${OPTIONAL.plotly}/${PLOTLY_FILE}`);
  if (!url.startsWith("file:")) {
    throw new Error(
      `cannot locate plotly.js (resolved to ${url}): run \`deno cache ${OPTIONAL.plotly}\` first`,
    );
  }
  return await Deno.readTextFile(new URL(url));
}

/** The version in plotly.js's opening comment, e.g. "4.1.1". */
function versionOf(source: string): string {
  return source.slice(0, 300).match(/plotly\.js[^\n]* v(\d+\.\d+\.\d+)/)?.[1] ?? "unknown";
}

/**
 * A `<script>` element holding plotly.js, safe to put anywhere in an html page.
 *
 * @example
 * ```ts
 * const head = `<head><meta charset="utf-8">${await plotlyScriptTag()}</head>`;
 * ```
 */
export async function plotlyScriptTag(): Promise<string> {
  // `\x3C` means `<` in strings, templates and regexes alike, and keeps the html parser from
  // ending the script early or entering its "double escaped" state.
  const source = (await plotlySource()).replace(/<(!--|\/?script)/gi, "\\x3C$1");
  return `<script type="text/javascript">${source}</script>`;
}

/** JSON that can sit inside a `<script>`: no `<` that could end it or open a comment. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/**
 * plotly.js as MIME bundles of at most `partChars` characters of it each. Each bundle's html
 * stores its piece on the page; the one that completes the set runs plotly.js, unless the
 * page has `window.Plotly` already. Pieces may arrive in any order and more than once. The last
 * bundle also holds a line that says whether plotly.js is on the page.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { plotlyParts } from "./plot.ts";
 * const parts = await plotlyParts();
 * assert(parts.every((part) => JSON.stringify(part).length < 300_000)); // each one small message
 * ```
 */
export async function plotlyParts(
  { partChars = PLOTLY_PART_CHARS, source }: { partChars?: number; source?: string } = {},
): Promise<MimeBundle[]> {
  if (!Number.isInteger(partChars) || partChars < 1) {
    throw new Error(`partChars must be a positive integer, got ${partChars}`);
  }
  const text = source ?? await plotlySource();
  const version = versionOf(text);
  const count = Math.ceil(text.length / partChars);
  // One store per library text, so that pieces of two versions never mix.
  const key = scriptJson(`${version}-${text.length}`);
  const noteId = `ff-plotly-note-${crypto.randomUUID()}`;
  const loaded = scriptJson(
    `plotly.js ${version} is on this page: the figures below draw offline.`,
  );
  const partial = scriptJson(`plotly.js ${version}: pieces on this page so far, of ${count}: `);
  return Array.from({ length: count }, (_, i) => {
    const last = i === count - 1;
    const piece = text.slice(i * partChars, (i + 1) * partChars);
    const html = `${last ? `<div id="${noteId}" class="ff-plotly-note"></div>\n` : ""}\
<script type="text/javascript">
(function () {
  var stores = window.ffPlotlyParts = window.ffPlotlyParts || {};
  var parts = stores[${key}] = stores[${key}] || [];
  parts[${i}] = ${scriptJson(piece)};${last ? `\n  parts.note = ${scriptJson(noteId)};` : ""}
  var have = 0;
  for (var i = 0; i < ${count}; i++) if (typeof parts[i] === "string") have++;
  if (!window.Plotly && have === ${count}) {
    var script = document.createElement("script");
    script.text = parts.join("");
    document.head.appendChild(script);
    for (var j = 0; j < ${count}; j++) parts[j] = "";
  }
  var note = parts.note && document.getElementById(parts.note);
  if (note) note.textContent = window.Plotly ? ${loaded} : ${partial} + have;
})();
</script>`;
    return {
      "text/html": html,
      "text/plain": `plotly.js ${version}, part ${i + 1} of ${count} (draws the figures below)`,
    };
  });
}

/**
 * Puts plotly.js on the notebook page, for the figures the notebook shows after it: call it in
 * the first cell. Each run of the cell sends it again (a page opened anew lacks it). Outside
 * Jupyter it does nothing.
 *
 * @example
 * ```ts
 * // A notebook's first cell (outside Jupyter, as here, it does nothing):
 * import { loadPlotly } from "./plot.ts";
 * await loadPlotly();
 * ```
 */
export async function loadPlotly(): Promise<void> {
  const display = jupyterDisplay();
  if (!display) return;
  const parts = await plotlyParts();
  for (const [index, bundle] of parts.entries()) {
    await display(bundle, {
      metadata: { [PLOTLY_PART_METADATA]: { index, count: parts.length } },
    });
  }
}

/** Throws a one-line error for a figure plotly.js (as lib/ ships it) cannot draw. */
function checkFigure(figure: Figure): void {
  if (!Array.isArray(figure?.data)) {
    throw new Error("a figure needs `data`, an array of plotly traces");
  }
  for (const trace of figure.data) {
    const type = (trace as { type?: unknown }).type ?? "scatter";
    if (typeof type !== "string" || !PLOTLY_TRACE_TYPES.includes(type)) {
      throw new Error(
        `trace type "${String(type)}" is not in lib/'s plotly.js bundle: use one of ${
          PLOTLY_TRACE_TYPES.join(", ")
        }`,
      );
    }
  }
}

/**
 * The html that draws `figure` into a new div with id `divId`, assuming plotly.js is (or
 * will be, earlier in the page) loaded as `window.Plotly`; without it the div says so.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { figureHtml, lossCurves } from "./plot.ts";
 * const html = figureHtml(lossCurves([[0.9, 0.5, 0.3]]), "loss");
 * assertStringIncludes(html, '<div id="loss"');
 * assertStringIncludes(html, "Plotly.newPlot");
 * ```
 */
export function figureHtml(figure: Figure, divId: string): string {
  if (!/^[A-Za-z][\w-]*$/.test(divId)) {
    throw new Error(
      `divId "${divId}" must start with a letter and use only letters, digits, _ and -`,
    );
  }
  checkFigure(figure);
  const missing = "plotly.js is not loaded on this page, so this plot cannot be drawn: " +
    "run the notebook from the top (its first cell loads plotly.js with `await loadPlotly()`).";
  return `<div id="${divId}" class="ff-plot"></div>
<script type="text/javascript">
(function () {
  var div = document.getElementById(${scriptJson(divId)});
  if (!div) return;
  if (!window.Plotly) {
    div.textContent = ${scriptJson(missing)};
    return;
  }
  window.Plotly.newPlot(${scriptJson(divId)}, ${scriptJson(figure.data)}, ${
    scriptJson(figure.layout)
  }, ${scriptJson(PLOTLY_CONFIG)});
})();
</script>`;
}

/** Title text of a figure's layout, if any. */
function titleOf(figure: Figure): string | undefined {
  const title = (figure.layout as { title?: string | { text?: string } }).title;
  return typeof title === "string" ? title : title?.text;
}

/**
 * The Jupyter MIME bundle of `figure`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lossCurves, mimeBundle } from "./plot.ts";
 * const bundle = mimeBundle(lossCurves([[0.9, 0.5, 0.3]]));
 * assertEquals(Object.keys(bundle), ["application/vnd.plotly.v1+json", "text/html", "text/plain"]);
 * ```
 */
export function mimeBundle(figure: Figure): MimeBundle {
  // Random, not counted: outputs of several notebooks and sessions can share one page.
  const divId = `ff-plot-${crypto.randomUUID()}`;
  const html = figureHtml(figure, divId);
  const types = [...new Set(figure.data.map((trace) => (trace as { type?: string }).type))];
  const traces = `${figure.data.length} trace${figure.data.length === 1 ? "" : "s"}`;
  return {
    "application/vnd.plotly.v1+json": { data: figure.data, layout: figure.layout },
    "text/html": html,
    "text/plain": `Plot "${titleOf(figure) ?? "untitled"}": ${traces} (${types.join(", ")})`,
  };
}

/**
 * A figure that Jupyter displays as a plotly plot.
 *
 * @example
 * ```ts
 * import { show } from "../jupyter.ts";
 * import { Plot } from "./plot.ts";
 * // In a notebook cell it draws; elsewhere it prints a line about the figure.
 * await show(new Plot({ data: [{ type: "scatter", y: [3, 1, 2] }], layout: { title: { text: "demo" } } }));
 * ```
 */
export class Plot implements Figure {
  /** plotly traces. */
  readonly data: object[];
  /** plotly layout. */
  readonly layout: object;

  /** @param figure the traces and layout */
  constructor(figure: Figure) {
    checkFigure(figure);
    this.data = figure.data;
    this.layout = figure.layout ?? {};
  }

  /** The MIME bundle Jupyter shows; see {@linkcode mimeBundle}. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return mimeBundle(this);
  }
}

/** `{ text }`: plotly 3+ takes titles only in this form. */
function title(text: string | undefined): { text: string } | undefined {
  return text === undefined ? undefined : { text };
}

function numbers(values: ArrayLike<number>, what: string): number[] {
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new Error(`${what} must be an array of numbers, got ${typeof values}`);
  }
  // Plain arrays: JSON writes a typed array as an object with "0", "1", ... keys.
  return Array.from(values, Number);
}

/**
 * Loss against epoch, one line per layer.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lossCurves } from "./plot.ts";
 * const plot = lossCurves([[0.9, 0.6, 0.4], [0.8, 0.7, 0.5]]);
 * assertEquals(plot.data.map((trace) => (trace as { name: string }).name), ["layer 1", "layer 2"]);
 * ```
 */
export function lossCurves(
  lossesPerLayer: ArrayLike<number>[],
  plotTitle = "FF loss per layer",
): Plot {
  const data = lossesPerLayer.map((losses, layer) => {
    const y = numbers(losses, `losses of layer ${layer + 1}`);
    return {
      type: "scatter",
      mode: "lines",
      name: `layer ${layer + 1}`,
      x: y.map((_, i) => i + 1),
      y,
    };
  });
  return new Plot({
    data,
    layout: {
      title: title(plotTitle),
      xaxis: { title: title("epoch") },
      yaxis: { title: title("loss") },
    },
  });
}

/**
 * Lines, one per named series, over shared x values (default 1, 2, ...).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lineChart } from "./plot.ts";
 * const plot = lineChart({ goodness: [0.05, 0.03], softmax: [0.04, 0.02] }, { x: [5, 10] });
 * assertEquals(plot.data.length, 2); // a line per readout
 * ```
 */
export function lineChart(
  seriesByName: Record<string, ArrayLike<number>>,
  options: { title?: string; xTitle?: string; yTitle?: string; x?: ArrayLike<number> } = {},
): Plot {
  const data = Object.entries(seriesByName).map(([name, values]) => {
    const y = numbers(values, `series "${name}"`);
    const x = options.x ? numbers(options.x, "x") : y.map((_, i) => i + 1);
    if (x.length !== y.length) {
      throw new Error(`series "${name}" has ${y.length} values for ${x.length} x values`);
    }
    return { type: "scatter", mode: "lines+markers", name, x, y };
  });
  return new Plot({
    data,
    layout: {
      title: title(options.title),
      xaxis: { title: title(options.xTitle) },
      yaxis: { title: title(options.yTitle) },
    },
  });
}

/**
 * Overlaid histograms, one per named series (goodness of positive vs negative data).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { histogram } from "./plot.ts";
 * const plot = histogram({ positive: [5.1, 6.3, 4.8], negative: [0.4, 1.2, 0.9] }, "Goodness", "goodness");
 * assertEquals(plot.data.length, 2); // overlaid
 * ```
 */
export function histogram(
  seriesByName: Record<string, ArrayLike<number>>,
  plotTitle: string,
  xTitle: string,
  { bins }: { bins?: number } = {},
): Plot {
  const data = Object.entries(seriesByName).map(([name, values]) => ({
    type: "histogram",
    name,
    x: numbers(values, `series "${name}"`),
    opacity: 0.6,
    // One set of bins for every series, so that their bars compare.
    bingroup: "shared",
    ...(bins === undefined ? {} : { nbinsx: bins }),
  }));
  return new Plot({
    data,
    layout: {
      title: title(plotTitle),
      barmode: "overlay",
      xaxis: { title: title(xTitle) },
      yaxis: { title: title("count") },
    },
  });
}

/** A dashed line across a figure at x = `x` (vertical) or y = `y` (horizontal), labelled. */
export interface ReferenceLine {
  x?: number;
  y?: number;
  /** Written at the line's end, e.g. "θ = 2". */
  label: string;
}

/**
 * The figure with dashed reference lines added, where the text names a value (θ, a published
 * error): a vertical line for `x`, a horizontal one for `y`, each labelled at its end.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lossCurves, withReferenceLines } from "./plot.ts";
 * const plot = withReferenceLines(lossCurves([[0.9, 0.7, 0.69]]), [{ y: Math.LN2, label: "ln 2" }]);
 * assertEquals((plot.layout as { shapes: { y0: number }[] }).shapes[0].y0, Math.LN2);
 * ```
 */
export function withReferenceLines(plot: Figure, lines: ReferenceLine[]): Plot {
  const layout = (plot.layout ?? {}) as {
    shapes?: object[];
    annotations?: object[];
    xaxis?: { type?: string };
    yaxis?: { type?: string };
  };
  // plotly places a shape by its value on a log axis, but an annotation by the value's log.
  const at = (value: number, axis?: { type?: string }) =>
    axis?.type === "log" ? Math.log10(value) : value;
  const shapes = [...(layout.shapes ?? [])];
  const annotations = [...(layout.annotations ?? [])];
  for (const { x, y, label } of lines) {
    if ((x === undefined) === (y === undefined) || !Number.isFinite(x ?? y)) {
      throw new Error(`reference line "${label}" needs one finite x or y, got x ${x}, y ${y}`);
    }
    const line = { color: "#555", width: 1.5, dash: "dash" };
    if (x !== undefined) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, line });
      annotations.push({
        text: label,
        xref: "x",
        yref: "paper",
        x: at(x, layout.xaxis),
        y: 1,
        xanchor: "left",
        yanchor: "top",
        showarrow: false,
      });
    } else {
      shapes.push({ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: y, y1: y, line });
      annotations.push({
        text: label,
        xref: "paper",
        yref: "y",
        x: 1,
        y: at(y!, layout.yaxis),
        xanchor: "right",
        yanchor: "bottom",
        showarrow: false,
      });
    }
  }
  return new Plot({ data: plot.data, layout: { ...layout, shapes, annotations } });
}

/** Options of {@linkcode heatmap}. */
export interface HeatmapOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Column labels; default 0, 1, ... */
  x?: (string | number)[];
  /** Row labels; default 0, 1, ... */
  y?: (string | number)[];
  /** A plotly colorscale name or list; default "Viridis". */
  colorscale?: string | [number, string][];
  /** Row 0 at the top, as in a matrix or an image. Default true. */
  reverseY?: boolean;
  /** Write each cell's value in it. Default false. */
  showValues?: boolean;
}

/**
 * A heatmap of the matrix `z` (rows top to bottom by default).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { heatmap } from "./plot.ts";
 * const plot = heatmap([[1, 2], [3, 4]], { title: "weights", showValues: true });
 * assertEquals((plot.data[0] as { z: number[][] }).z, [[1, 2], [3, 4]]);
 * ```
 */
export function heatmap(z: ArrayLike<number>[], options: HeatmapOptions = {}): Plot {
  const { reverseY = true, showValues = false, colorscale = "Viridis" } = options;
  const rows = z.map((row, i) => numbers(row, `row ${i} of z`));
  const width = rows[0]?.length ?? 0;
  const ragged = rows.findIndex((row) => row.length !== width);
  if (ragged >= 0) {
    throw new Error(`row ${ragged} of z has ${rows[ragged].length} values, row 0 has ${width}`);
  }
  const trace = {
    type: "heatmap",
    z: rows,
    colorscale,
    ...(options.x ? { x: options.x } : {}),
    ...(options.y ? { y: options.y } : {}),
    ...(showValues ? { texttemplate: "%{z}" } : {}),
  };
  return new Plot({
    data: [trace],
    layout: {
      title: title(options.title),
      // Labels are categories even when they look like numbers ("0".."9").
      xaxis: { title: title(options.xTitle), ...(options.x ? { type: "category" } : { dtick: 1 }) },
      yaxis: {
        title: title(options.yTitle),
        ...(options.y ? { type: "category" } : { dtick: 1 }),
        ...(reverseY ? { autorange: "reversed" } : {}),
      },
    },
  });
}

/** Pixels per side of an MNIST image. */
const SIDE = 28;

/** The colours of a label block's cells: off, and the one the input claims. */
const LABEL_OFF = "#e6e6e6";
const LABEL_ON = "#d62728";

/**
 * MNIST digits in a grid, each as a grayscale image. Inputs with a one-hot label block
 * appended (28·28 + k values, as `combineXY` makes with "concat") show that block as a strip of
 * k numbered cells under the digit, the claimed label in red, so positive and negative data can
 * be told apart at a glance.
 *
 * @param images one array of 784 (or 784 + label block) pixels per digit
 * @param titles one title per digit, e.g. "label 7"
 * @param options `columns`: digits per row (default up to 5); `title`: the figure's title
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadMnistOrSubset } from "../data/mod.ts";
 * import { digitGrid } from "./plot.ts";
 * const mnist = await loadMnistOrSubset("data/mnist");
 * const plot = digitGrid([mnist.test.images.subarray(0, 784)], [`label ${mnist.test.labels[0]}`]);
 * assertEquals(plot.data.length, 1); // one image
 * ```
 */
export function digitGrid(
  images: ArrayLike<number>[],
  titles: string[] = [],
  { columns = Math.min(images.length, 5), title: plotTitle }: {
    columns?: number;
    title?: string;
  } = {},
): Plot {
  if (images.length === 0) throw new Error("digitGrid needs at least one image");
  if (!Number.isInteger(columns) || columns < 1) {
    throw new Error(`columns must be a positive integer, got ${columns}`);
  }
  const pixels = SIDE * SIDE;
  const all = images.map((image, i) => {
    const values = numbers(image, `image ${i}`);
    if (values.length < pixels || values.length - pixels > SIDE) {
      throw new Error(
        `image ${i} has ${values.length} values: pass 784 pixels, optionally followed by a label block of up to 28`,
      );
    }
    return values;
  });
  const labelled = all.some((values) => values.length > pixels);
  // One colour range for all pixels: digits then compare across the grid.
  const flat = all.flatMap((values) => values.slice(0, pixels));
  const zmin = Math.min(...flat);
  const zmax = Math.max(...flat);
  const rows = Math.ceil(all.length / columns);
  const gap = 0.04;
  const cellWidth = (1 - gap * (columns - 1)) / columns;
  const cellHeight = (1 - gap * rows) / rows; // the extra gap is room for the titles
  const layout: Record<string, unknown> = {
    height: (plotTitle ? 100 : 60) + rows * (labelled ? 235 : 190),
    width: 40 + columns * 190,
    margin: { l: 20, r: 20, t: plotTitle ? 100 : 60, b: 20 },
    showlegend: false,
    ...(plotTitle && { title: title(plotTitle) }),
  };
  const annotations: object[] = [];
  const data = all.flatMap((values, i) => {
    const axis = i === 0 ? "" : String(i + 1);
    const column = i % columns;
    const row = Math.floor(i / columns);
    const x0 = column * (cellWidth + gap);
    const y1 = 1 - gap - row * (cellHeight + gap);
    layout[`xaxis${axis}`] = { domain: [x0, x0 + cellWidth], visible: false };
    layout[`yaxis${axis}`] = {
      domain: [y1 - cellHeight, y1],
      visible: false,
      autorange: "reversed",
      scaleanchor: `x${axis}`,
    };
    annotations.push({
      text: titles[i] ?? `#${i}`,
      showarrow: false,
      xref: "paper",
      yref: "paper",
      x: x0 + cellWidth / 2,
      y: y1,
      xanchor: "center",
      yanchor: "bottom",
    });
    const axes = { xaxis: `x${axis}`, yaxis: `y${axis}` };
    const digit = {
      type: "heatmap",
      z: Array.from({ length: SIDE }, (_, r) => values.slice(r * SIDE, (r + 1) * SIDE)),
      zmin,
      zmax,
      colorscale: [[0, "black"], [1, "white"]],
      showscale: false,
      ...axes,
      hovertemplate: "row %{y}, column %{x}: %{z}<extra></extra>",
    };
    const strip = labelStrip(values.slice(pixels), axis);
    annotations.push(...strip.annotations);
    return [digit, ...strip.traces];
  });
  layout.annotations = annotations;
  return new Plot({ data, layout });
}

/**
 * A label block as a strip of numbered cells under its digit, in the digit's own axes (so it
 * keeps the digit's width): grey cells, the hot one red, the class number under each.
 */
function labelStrip(block: number[], axis: string): { traces: object[]; annotations: object[] } {
  if (block.length === 0) return { traces: [], annotations: [] };
  const width = SIDE / block.length;
  const hot = Math.max(...block);
  const centres = block.map((_, k) => (k + 0.5) * width - 0.5);
  const strip = {
    type: "heatmap",
    z: [block.map((v) => (hot > 0 && v === hot ? 1 : 0))],
    x: centres,
    y0: SIDE + 1.5,
    dy: width,
    zmin: 0,
    zmax: 1,
    xgap: 2,
    colorscale: [[0, LABEL_OFF], [1, LABEL_ON]],
    showscale: false,
    xaxis: `x${axis}`,
    yaxis: `y${axis}`,
    text: [block.map((_, k) => String(k))],
    customdata: [block],
    hovertemplate: "label block, class %{text}: %{customdata}<extra></extra>",
  };
  const annotations = centres.map((x, k) => ({
    text: String(k),
    xref: `x${axis}`,
    yref: `y${axis}`,
    x,
    y: SIDE + 1.5 + width,
    showarrow: false,
    font: { size: 10, color: "#444" },
  }));
  return { traces: [strip], annotations };
}

/** Options of {@linkcode barChart}. */
export interface BarChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** One name per bar position; default "0", "1", ... */
  categories?: string[];
}

/**
 * Bars per category, grouped side by side when there are several series (e.g. the goodness
 * of each of the 10 labels for a few test images).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { barChart } from "./plot.ts";
 * const goodnessPerLabel = [0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.2, 3.5, 0.4, 0.6];
 * const plot = barChart({ "image 0 (true 7)": goodnessPerLabel }, { xTitle: "label", yTitle: "goodness" });
 * assertEquals((plot.data[0] as { x: string[] }).x.length, 10); // a bar per label
 * ```
 */
export function barChart(
  seriesByName: Record<string, ArrayLike<number>>,
  options: BarChartOptions = {},
): Plot {
  const series = Object.entries(seriesByName).map(([name, values]) =>
    [name, numbers(values, `series "${name}"`)] as const
  );
  const length = series[0]?.[1].length ?? 0;
  const categories = options.categories ?? Array.from({ length }, (_, i) => String(i));
  for (const [name, values] of series) {
    if (values.length !== categories.length) {
      throw new Error(
        `series "${name}" has ${values.length} values for ${categories.length} categories: give one value per category`,
      );
    }
  }
  return new Plot({
    data: series.map(([name, y]) => ({ type: "bar", name, x: categories, y })),
    layout: {
      title: title(options.title),
      barmode: "group",
      xaxis: { title: title(options.xTitle), type: "category" },
      yaxis: { title: title(options.yTitle) },
    },
  });
}

/**
 * counts[t][p]: how many examples of true class t were predicted as p.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { confusionCounts } from "./plot.ts";
 * assertEquals(confusionCounts([0, 1, 1], [0, 1, 0], 2), [[1, 0], [1, 1]]);
 * ```
 */
export function confusionCounts(
  trueLabels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`numClasses must be a positive integer, got ${numClasses}`);
  }
  if (trueLabels.length !== predicted.length) {
    throw new Error(
      `got ${trueLabels.length} true labels and ${predicted.length} predictions: pass one prediction per label`,
    );
  }
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < trueLabels.length; i++) {
    const [t, p] = [trueLabels[i], predicted[i]];
    for (const [label, what] of [[t, "true label"], [p, "prediction"]] as const) {
      if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
        throw new Error(`${what} ${label} at index ${i} is outside 0..${numClasses - 1}`);
      }
    }
    counts[t][p]++;
  }
  return counts;
}

/**
 * The confusion matrix as a heatmap with the count in each cell: rows are true classes,
 * columns predicted ones.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { confusionMatrix } from "./plot.ts";
 * const plot = confusionMatrix([3, 1, 3], [3, 1, 5], 10);
 * assertEquals((plot.data[0] as { z: number[][] }).z[3][5], 1); // one 3 taken for a 5
 * ```
 */
export function confusionMatrix(
  trueLabels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses = 10,
  plotTitle = "Confusion matrix",
): Plot {
  const labels = Array.from({ length: numClasses }, (_, i) => String(i));
  return heatmap(confusionCounts(trueLabels, predicted, numClasses), {
    title: plotTitle,
    xTitle: "predicted",
    yTitle: "true",
    x: labels,
    y: labels,
    // Plotly's "Blues" runs dark to light; counts read better the other way round.
    colorscale: [[0, "#f7fbff"], [1, "#08306b"]],
    showValues: true,
  });
}
