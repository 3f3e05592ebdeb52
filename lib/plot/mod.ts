/**
 * Pictures and reports: plotly figures that show themselves in Jupyter, the figures the
 * notebooks draw, a self-contained html report, and training progress that updates in place.
 *
 * @example
 * ```ts
 * import { lossCurves } from "./mod.ts";
 * lossCurves([[0.9, 0.6, 0.4]]); // a cell's last expression: Jupyter draws it
 * ```
 *
 * @module
 */
export {
  barChart,
  confusionCounts,
  confusionMatrix,
  digitGrid,
  type Figure,
  figureHtml,
  heatmap,
  type HeatmapOptions,
  histogram,
  lineChart,
  lossCurves,
  mimeBundle,
  Plot,
  plotlyScriptTag,
  plotlySource,
} from "./plot.ts";
export { type Report, reportHtml, writeReport } from "./report.ts";
export {
  formatDuration,
  type ProgressCallback,
  type ProgressMode,
  type ProgressOptions,
  progressReporter,
} from "./progress.ts";
export { escapeHtml } from "./html.ts";
