import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { confusionMatrix, type Figure, lossCurves, plotlySource } from "../lib/plot/plot.ts";
import { type Report, reportHtml, writeReport } from "../lib/plot/report.ts";

const report: Report = {
  title: "FF <on> MNIST",
  summary: { "test error": "6.9%", epochs: 1000, "a&b": "<b>" },
  figures: [lossCurves([[0.9, 0.5], [0.8, 0.4]]), confusionMatrix([0, 1, 1], [0, 1, 0], 2)],
};

/** The html with every script's content removed: what remains is markup only. */
function markupOnly(html: string): string {
  return html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, "<script></script>");
}

Deno.test("reportHtml is self-contained: plotly.js inlined once, no outside references", async () => {
  const html = await reportHtml(report);
  const signature = (await plotlySource()).slice(0, 400);
  assertEquals(html.split(signature).length - 1, 1);
  const markup = markupOnly(html);
  assertEquals(markup.match(/\b(src|href)\s*=/gi), null);
  assertEquals(markup.match(/<(link|iframe|img|object|embed)\b/gi), null);
  assertStringIncludes(html, 'Plotly.newPlot("plot-1", ');
  assertStringIncludes(html, 'Plotly.newPlot("plot-2", ');
  assert(html.startsWith("<!doctype html>"));
});

Deno.test("reportHtml escapes the title and summary", async () => {
  const markup = markupOnly(await reportHtml(report));
  assertStringIncludes(markup, "<title>FF &lt;on&gt; MNIST</title>");
  assertStringIncludes(markup, "<tr><th>a&amp;b</th><td>&lt;b&gt;</td></tr>");
  assertStringIncludes(markup, "<tr><th>epochs</th><td>1000</td></tr>");
});

Deno.test("writeReport writes the html and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/report.html`;
    await writeReport(path, report);
    assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name), ["report.html"]);
    const written = await Deno.readTextFile(path);
    assertStringIncludes(written, "<title>FF &lt;on&gt; MNIST</title>");
    assertStringIncludes(written, 'Plotly.newPlot("plot-2", ');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeReport replaces an existing file only when the write succeeds", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/report.html`;
    await Deno.writeTextFile(path, "previous report");
    // A figure JSON cannot hold: building the page fails, so nothing may be written.
    const broken: Figure = { data: [{ type: "bar", y: [1n] }], layout: {} };
    await assertRejects(() => writeReport(path, { ...report, figures: [broken] }), TypeError);
    assertEquals(await Deno.readTextFile(path), "previous report");
    assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name), ["report.html"]);

    // Writing into a missing folder fails before any rename: no file appears anywhere.
    await assertRejects(
      () => writeReport(`${dir}/missing/report.html`, report),
      Deno.errors.NotFound,
    );
    assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name), ["report.html"]);

    // The final rename fails (a folder is in the way): the temporary file is cleaned up.
    await Deno.mkdir(`${dir}/taken`);
    await Deno.writeTextFile(`${dir}/taken/keep.txt`, "kept");
    await assertRejects(() => writeReport(`${dir}/taken`, report));
    assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name).sort(), [
      "report.html",
      "taken",
    ]);
    assertEquals(await Deno.readTextFile(`${dir}/taken/keep.txt`), "kept");

    await writeReport(path, report);
    assertStringIncludes(await Deno.readTextFile(path), "FF &lt;on&gt; MNIST");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
