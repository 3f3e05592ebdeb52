/**
 * Pictures and reports: plotly figures that show themselves in Jupyter, the figures the
 * notebooks draw, a self-contained html report, training progress that updates in place and a
 * live loss plot (`trainingPlot`).
 *
 * @example
 * ```ts
 * import { loadPlotly, lossCurves } from "./mod.ts";
 * import { show } from "../jupyter.ts";
 * await loadPlotly(); // once, in a notebook's first cell
 * await show(lossCurves([[0.9, 0.6, 0.4]])); // Jupyter draws it
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
  loadPlotly,
  lossCurves,
  type MimeBundle,
  mimeBundle,
  Plot,
  PLOTLY_PART_CHARS,
  PLOTLY_PART_METADATA,
  PLOTLY_TRACE_TYPES,
  plotlyParts,
  plotlyScriptTag,
  plotlySource,
  type ReferenceLine,
  withReferenceLines,
} from "./plot.ts";
export { type Report, reportHtml, writeReport } from "./report.ts";
export {
  formatDuration,
  type ProgressCallback,
  type ProgressMode,
  type ProgressOptions,
  progressReporter,
} from "./progress.ts";
export { trainingPlot, type TrainingPlotOptions } from "./live.ts";
export {
  type PixelField,
  receptiveField,
  receptiveFieldPlot,
  type ReceptiveFieldPlotOptions,
} from "./local.ts";
export { escapeHtml } from "./html.ts";
