/**
 * A training run's report as one html file: a summary table and plotly figures, with plotly.js
 * inlined, so it opens offline, from anywhere, and asks no server for anything.
 *
 * @module
 */
import { writeFileAtomic } from "../files.ts";
import { escapeHtml } from "./html.ts";
import { type Figure, figureHtml, plotlyScriptTag } from "./plot.ts";

/** What a report shows, top to bottom. */
export interface Report {
  title: string;
  /** Name to value, e.g. `{ "test error": "6.9%", epochs: 1000 }`; shown as a table. */
  summary: Record<string, string | number>;
  figures: Figure[];
}

const STYLE = `body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 1em; text-align: left; }
.ff-plot { margin: 1em 0; }`;

/**
 * The report as a self-contained html page.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { lossCurves } from "./plot.ts";
 * import { reportHtml } from "./report.ts";
 * const html = await reportHtml({
 *   title: "FF on MNIST",
 *   summary: { "test error": "6.9%" },
 *   figures: [lossCurves([[0.9, 0.5, 0.3]])],
 * });
 * assertStringIncludes(html, "<h1>FF on MNIST</h1>"); // plotly.js inside: it opens offline
 * ```
 */
export async function reportHtml(report: Report): Promise<string> {
  const { title, summary, figures } = report;
  if (typeof title !== "string") throw new Error("a report needs a `title` string");
  if (!Array.isArray(figures)) throw new Error("a report needs `figures`, an array of figures");
  const rows = Object.entries(summary ?? {}).map(([name, value]) =>
    `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(String(value))}</td></tr>`
  );
  // Figures first: one that cannot be written as JSON fails before plotly.js is even read.
  const plots = figures.map((figure, i) => figureHtml(figure, `plot-${i + 1}`));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
${STYLE}
</style>
${await plotlyScriptTag()}
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${rows.length ? `<table>\n${rows.join("\n")}\n</table>` : ""}
${plots.join("\n")}
</body>
</html>
`;
}

/**
 * Writes the report to `path`, atomically: the file is either the old one or the whole new
 * one, never half of either.
 *
 * @example
 * ```ts
 * import { writeReport } from "./report.ts";
 * const path = `${await Deno.makeTempDir()}/report.html`;
 * await writeReport(path, { title: "FF on MNIST", summary: {}, figures: [] });
 * ```
 */
export async function writeReport(path: string, report: Report): Promise<void> {
  await writeFileAtomic(path, await reportHtml(report));
}
