import {
  assert,
  assertEquals,
  assertLess,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  barChart,
  confusionCounts,
  confusionMatrix,
  digitGrid,
  type Figure,
  figureHtml,
  heatmap,
  histogram,
  loadPlotly,
  lossCurves,
  type MimeBundle,
  mimeBundle,
  Plot,
  PLOTLY_PART_CHARS,
  plotlyParts,
  plotlySource,
  withReferenceLines,
} from "../lib/plot/plot.ts";

const PLOTLY_MIME = "application/vnd.plotly.v1+json";

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

function divIdOf(html: string): string {
  const match = html.match(/<div id="([^"]+)" class="ff-plot">/);
  assert(match, "the html has a plot div");
  return match[1];
}

Deno.test("mimeBundle: plotly JSON is the figure; the html draws it with the page's plotly.js", async () => {
  const first = lossCurves([[0.9, 0.5, 0.3]], "first");
  const second = histogram({ positive: [5, 6], negative: [1, 2] }, "second", "goodness");
  const bundles = [mimeBundle(first), mimeBundle(second)];
  const signature = (await plotlySource()).slice(0, 400);

  for (const [bundle, figure] of [[bundles[0], first], [bundles[1], second]] as const) {
    assertEquals(Object.keys(bundle).sort(), [PLOTLY_MIME, "text/html", "text/plain"]);
    assertEquals(bundle[PLOTLY_MIME], { data: figure.data, layout: figure.layout });
    const html = bundle["text/html"] as string;
    assertEquals(count(html, "Plotly.newPlot("), 1);
    assertStringIncludes(html, `Plotly.newPlot("${divIdOf(html)}", `);
    assertEquals(count(html, signature), 0, "no figure carries plotly.js");
    assertLess(html.length, 2_000);
  }
  const htmls = bundles.map((bundle) => bundle["text/html"] as string);
  assertNotEquals(divIdOf(htmls[0]), divIdOf(htmls[1]));
  assertEquals(bundles[0]["text/plain"], 'Plot "first": 1 trace (scatter)');
  assertEquals(bundles[1]["text/plain"], 'Plot "second": 2 traces (histogram)');
});

Deno.test("Plot displays through Symbol.for('Jupyter.display')", () => {
  const figure = { data: [{ type: "bar", y: [1, 2] }], layout: {} };
  // What the kernel and `show` do with a value: look the method up by the registered symbol.
  const view = (plot: Plot) =>
    (plot as unknown as Record<symbol, () => MimeBundle>)[Symbol.for("Jupyter.display")]();
  const bundle = view(new Plot(figure));
  assertEquals(bundle[PLOTLY_MIME], figure);
  assertEquals(bundle["text/plain"], 'Plot "untitled": 1 trace (bar)');
});

Deno.test("figureHtml: data cannot end the script; a page without plotly.js says so", () => {
  const html = figureHtml({
    data: [{ type: "bar", name: "</script><script>alert(1)</script>", y: [1] }],
    layout: {},
  }, "evil");
  assertEquals(count(html, "</script>"), 1);
  assertEquals(count(html, "<script"), 1);
  assertStringIncludes(html, "if (!window.Plotly)");
  assertStringIncludes(html, "plotly.js is not loaded on this page");
  assertStringIncludes(html, "await loadPlotly()");
  assertThrows(() => figureHtml({ data: [], layout: {} }, 'x" onload="'), Error, "divId");
});

Deno.test("Plot rejects a figure without a data array, or with a trace type lib/'s plotly.js lacks", () => {
  assertThrows(() => new Plot({ layout: {} } as unknown as Figure), Error, "data");
  assertThrows(
    () => new Plot({ data: [{ type: "scatter3d", x: [1], y: [1], z: [1] }], layout: {} }),
    Error,
    'trace type "scatter3d" is not in lib/\'s plotly.js bundle: use one of bar, box,',
  );
  // No type: plotly's default, scatter.
  assertEquals(new Plot({ data: [{ y: [1] }], layout: {} }).data.length, 1);
});

/**
 * Runs the scripts of part bundles, in the given order, against a stand-in page; returns the
 * scripts the page ran and what the note says.
 */
function runParts(parts: MimeBundle[], order: number[], page: Record<string, unknown> = {}) {
  const ran: string[] = [];
  const note = { textContent: "" };
  const noteId = (parts.at(-1)!["text/html"] as string).match(/^<div id="([^"]+)"/)?.[1];
  const document = {
    createElement: () => ({ text: "" }),
    head: {
      appendChild: (script: { text: string }) => {
        ran.push(script.text);
        page.Plotly = {}; // what running plotly.js does
      },
    },
    getElementById: (id: string) => id === noteId ? note : null,
  };
  for (const i of order) {
    const html = parts[i]["text/html"] as string;
    const body = html.match(/<script type="text\/javascript">([\s\S]*)<\/script>$/)?.[1];
    assert(body !== undefined, `part ${i} ends in one script element`);
    new Function("window", "document", body)(page, document);
  }
  return { ran, note: note.textContent };
}

Deno.test("plotlyParts: plotly.js in pieces under the limit, run once the set is complete", async () => {
  const source = await plotlySource();
  const parts = await plotlyParts();
  assertEquals(parts.length, Math.ceil(source.length / PLOTLY_PART_CHARS));
  for (const part of parts) {
    const html = part["text/html"] as string;
    assertLess(html.length, PLOTLY_PART_CHARS * 1.2, "a part stays near its share of the library");
    assertEquals(count(html, "</script>"), 1, "the library cannot end the script early");
    assertEquals(count(html, "<script"), 1);
    assertMatch(part["text/plain"] as string, /^plotly\.js \d+\.\d+\.\d+, part \d+ of \d+/);
  }
  // Any order, repeats included: the library runs once, when the last missing piece arrives.
  const order = parts.map((_, i) => parts.length - 1 - i);
  const { ran, note } = runParts(parts, [order[0], ...order]);
  assertEquals(ran.length, 1);
  assert(ran[0] === source, "the pieces join into plotly.js exactly");
  assertMatch(note, /^plotly\.js \d+\.\d+\.\d+ is on this page/);
  // A page that has plotly.js already runs nothing again.
  assertEquals(runParts(parts, order, { Plotly: {} }).ran, []);
  // Pieces missing: the note says how many arrived.
  assertMatch(
    runParts(parts, [parts.length - 1, 0]).note,
    /pieces on this page so far, of \d+: 2$/,
  );
});

Deno.test("plotlyParts: a small source in small pieces, surrogate pairs split or not", async () => {
  const source = "/* plotly.js v9.9.9 */ var s = '</script> \u{1F600} \u2028';";
  const parts = await plotlyParts({ source, partChars: 7 });
  assertEquals(parts.length, Math.ceil(source.length / 7));
  assertEquals(runParts(parts, parts.map((_, i) => i)).ran, [source]);
  assertStringIncludes(parts[0]["text/plain"] as string, "plotly.js 9.9.9, part 1 of");
  await assertRejects(() => plotlyParts({ source, partChars: 0 }), Error, "partChars");
});

Deno.test("loadPlotly outside Jupyter does nothing", async () => {
  await loadPlotly();
});

Deno.test("lossCurves: one line per layer over epochs 1..n", () => {
  const figure = lossCurves([[0.9, 0.6, 0.4], Float32Array.from([0.8, 0.7, 0.5])]);
  const traces = figure.data as { type: string; name: string; x: number[]; y: number[] }[];
  assertEquals(traces.map((t) => [t.type, t.name]), [["scatter", "layer 1"], [
    "scatter",
    "layer 2",
  ]]);
  assertEquals(traces[0].x, [1, 2, 3]);
  // Plain arrays, so that JSON (and thus plotly) gets a list, not {"0": ..., "1": ...}.
  assert(Array.isArray(traces[1].y));
  assertEquals(JSON.parse(JSON.stringify(traces[1].y)).length, 3);
  const layout = figure.layout as Record<string, { text?: string; title?: { text: string } }>;
  assertEquals(layout.title.text, "FF loss per layer");
  assertEquals(layout.xaxis.title?.text, "epoch");
  assertEquals(layout.yaxis.title?.text, "loss");
});

Deno.test("histogram: overlaid, one trace per series", () => {
  const figure = histogram({ positive: [5, 6, 7], negative: [1, 2] }, "Goodness", "goodness", {
    bins: 30,
  });
  const traces = figure.data as { type: string; name: string; x: number[]; nbinsx: number }[];
  assertEquals(traces.map((t) => [t.type, t.name, t.x.length, t.nbinsx]), [
    ["histogram", "positive", 3, 30],
    ["histogram", "negative", 2, 30],
  ]);
  const layout = figure.layout as { barmode: string; xaxis: { title: { text: string } } };
  assertEquals(layout.barmode, "overlay");
  assertEquals(layout.xaxis.title.text, "goodness");
});

Deno.test("heatmap: z as given, row 0 on top, labels as categories", () => {
  const figure = heatmap([[1, 2], [3, 4]], { title: "w", x: ["a", "b"], y: ["0", "1"] });
  const [trace] = figure.data as { type: string; z: number[][] }[];
  assertEquals(trace.type, "heatmap");
  assertEquals(trace.z, [[1, 2], [3, 4]]);
  const layout = figure.layout as Record<string, { autorange?: string; type?: string }>;
  assertEquals(layout.yaxis.autorange, "reversed");
  assertEquals(layout.xaxis.type, "category");
  assertThrows(() => heatmap([[1, 2], [3]]), Error, "row 1 of z has 1 values");
});

Deno.test("digitGrid: 28x28 images, a numbered label strip under each, one subplot each", () => {
  const plain = Array.from({ length: 784 }, (_, i) => i / 784);
  const labelled = [...plain, ...Array.from({ length: 10 }, (_, k) => k === 7 ? 2.8 : 0)];
  const figure = digitGrid([plain, labelled, plain], ["a", "b", "c"], { columns: 2, title: "t" });
  type Trace = { type: string; z: number[][]; xaxis: string; yaxis: string };
  const traces = figure.data as Trace[];
  // The labelled input has its digit and its strip, both in its own axes.
  assertEquals(traces.map((t) => [t.type, t.xaxis, t.yaxis]), [
    ["heatmap", "x", "y"],
    ["heatmap", "x2", "y2"],
    ["heatmap", "x2", "y2"],
    ["heatmap", "x3", "y3"],
  ]);
  assertEquals(traces[0].z.length, 28);
  assertEquals(traces[0].z[0].length, 28);
  assertEquals(traces[0].z[0][27], 27 / 784);
  // The strip: one row, the claimed label hot, drawn in another colour than the pixels.
  assertEquals(traces[2].z, [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0]]);
  const scales = traces.slice(1, 3).map((t) =>
    JSON.stringify((t as { colorscale?: unknown }).colorscale)
  );
  assert(scales[0] !== scales[1], "the label strip has colours of its own");
  type Note = { text: string; xref: string };
  const layout = figure.layout as Record<string, unknown> & { annotations: Note[] };
  // A title per image, and the strip's numbers 0 to 9 under the labelled one.
  assertEquals(layout.annotations.filter((a) => a.xref === "paper").map((a) => a.text), [
    "a",
    "b",
    "c",
  ]);
  assertEquals(
    layout.annotations.filter((a) => a.xref === "x2").map((a) => a.text).join(""),
    "0123456789",
  );
  assertEquals((layout.title as { text: string }).text, "t");
  assertEquals((layout.yaxis3 as { autorange: string }).autorange, "reversed");
  const only784 = digitGrid([plain]).data;
  assertEquals(only784.length, 1);
  assertThrows(() => digitGrid([[1, 2, 3]]), Error, "image 0 has 3 values");
  assertThrows(() => digitGrid([]), Error, "at least one image");
});

Deno.test("histogram: overlaid series share one set of bins, so their bars compare", () => {
  const figure = histogram({ a: [1, 2, 3], b: [10, 20] }, "h", "g", { bins: 5 });
  const traces = figure.data as { bingroup: string; nbinsx: number }[];
  assertEquals(traces.map((t) => [t.bingroup, t.nbinsx]), [["shared", 5], ["shared", 5]]);
});

Deno.test("withReferenceLines: dashed lines at x or y, labelled, or a clear error", () => {
  const figure = withReferenceLines(histogram({ a: [1, 2, 3] }, "h", "g"), [
    { x: 2, label: "θ = 2" },
    { y: 0.5, label: "half" },
  ]);
  const layout = figure.layout as {
    shapes: Record<string, unknown>[];
    annotations: { text: string }[];
  };
  assertEquals(layout.shapes.map((s) => [s.x0, s.x1, s.yref]), [[2, 2, "paper"], [0, 1, "y"]]);
  assertEquals(layout.shapes[1].y0, 0.5);
  assertEquals(layout.annotations.map((a) => a.text), ["θ = 2", "half"]);
  assertEquals(figure.data.length, 1);
  assertThrows(
    () => withReferenceLines(figure, [{ label: "nowhere" }]),
    Error,
    "needs one finite x or y",
  );
  assertThrows(() => withReferenceLines(figure, [{ x: NaN, label: "nan" }]), Error, "nan");
});

Deno.test("withReferenceLines on a log axis: the line at the value, its label at the value's log", () => {
  const plot = new Plot({
    data: [{ type: "scatter", y: [7.4, 2.7] }],
    layout: { yaxis: { type: "log" } },
  });
  const layout = withReferenceLines(plot, [{ y: 1.37, label: "the paper" }]).layout as {
    shapes: { y0: number }[];
    annotations: { y: number }[];
  };
  assertEquals(layout.shapes[0].y0, 1.37);
  assertEquals(layout.annotations[0].y, Math.log10(1.37));
});

Deno.test("barChart: grouped bars over categories", () => {
  const figure = barChart({ "image 0": [1, 2, 3], "image 1": [3, 2, 1] }, {
    title: "Goodness per label",
    xTitle: "label",
    yTitle: "goodness",
  });
  const traces = figure.data as { type: string; x: string[]; y: number[] }[];
  assertEquals(traces.length, 2);
  assertEquals(traces[0].x, ["0", "1", "2"]);
  assertEquals(traces[1].y, [3, 2, 1]);
  assertEquals((figure.layout as { barmode: string }).barmode, "group");
  assertThrows(() => barChart({ a: [1, 2], b: [1] }), Error, 'series "b" has 1 values');
});

Deno.test("confusionCounts / confusionMatrix: counts match a small example and sum to n", () => {
  const truth = [0, 0, 1, 2, 2, 2];
  const predicted = [0, 1, 1, 2, 0, 2];
  const expected = [[1, 1, 0], [0, 1, 0], [1, 0, 2]];
  assertEquals(confusionCounts(truth, predicted, 3), expected);

  const figure = confusionMatrix(Int32Array.from(truth), Int32Array.from(predicted), 3);
  const [trace] = figure.data as { z: number[][]; texttemplate: string }[];
  assertEquals(trace.z, expected);
  assertEquals(trace.z.flat().reduce((a, b) => a + b), truth.length);
  assertEquals(trace.texttemplate, "%{z}");
  const layout = figure.layout as Record<string, { title?: { text: string } }>;
  assertEquals([layout.xaxis.title?.text, layout.yaxis.title?.text], ["predicted", "true"]);

  assertThrows(() => confusionCounts([0, 3], [0, 1], 3), Error, "true label 3 at index 1");
  assertThrows(() => confusionCounts([0], [0, 1], 3), Error, "one prediction per label");
});

Deno.test("plotlySource is plotly.js, the cartesian bundle", async () => {
  const source = await plotlySource();
  assertMatch(source.slice(0, 200), /plotly\.js \(cartesian - minified\) v\d+\.\d+\.\d+/);
  assert(source.length > 1_000_000, `plotly.js is only ${source.length} characters`);
});
