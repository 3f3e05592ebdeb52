/**
 * A loss plot that draws itself while training runs: in Jupyter, one figure, shown once and
 * updated in place (Jupyter's display_id and update_display_data), at most a couple of times a
 * second and once more at the end; elsewhere, the text progress of ./progress.ts.
 *
 * @module
 */
import type { EpochProgress } from "../core/mod.ts";
import { type JupyterDisplay, jupyterDisplay } from "../jupyter.ts";
import { type Figure, mimeBundle } from "./plot.ts";
import {
  formatDuration,
  type ProgressCallback,
  type ProgressOptions,
  progressReporter,
  whichLayers,
} from "./progress.ts";

/** Options of {@linkcode trainingPlot}. */
export interface TrainingPlotOptions extends ProgressOptions {
  /** The figure's title; default "FF loss per layer". */
  title?: string;
  /**
   * The fewest milliseconds between two redraws; default 500. The first epoch, each layer's
   * last and the run's last always draw.
   */
  minIntervalMs?: number;
  /** Where the figure goes; default the Deno kernel's display. Tests pass their own. */
  display?: JupyterDisplay;
}

/** The loss curves so far, one per layer: epochs and losses. */
type Curves = { x: number[]; y: number[] }[];

/**
 * The live figure: loss per layer against epoch, the x axis spanning all `epochs` from the
 * start, so that the line's length shows how far training has come.
 */
function lossFigure(curves: Curves, epochs: number, title: string): Figure {
  return {
    data: curves.flatMap(({ x, y }, layer) =>
      x.length === 0
        ? []
        : [{ type: "scatter", mode: "lines", name: `layer ${layer + 1}`, x: [...x], y: [...y] }]
    ),
    layout: {
      title: { text: title },
      xaxis: {
        title: { text: "epoch (one pass over the training images)" },
        range: [0, epochs],
      },
      yaxis: { title: { text: "FF loss (nats per example)" }, rangemode: "tozero" },
      legend: { title: { text: "" } },
    },
  };
}

/** One line per layer: its latest loss and epoch. */
function lossLines(curves: Curves): string[] {
  return curves.flatMap(({ x, y }, layer) =>
    x.length === 0 ? [] : [`layer ${layer + 1}: loss ${y.at(-1)!.toFixed(4)} at epoch ${x.at(-1)}`]
  );
}

/**
 * The per-epoch callback that draws training's loss as it goes: pass it as `onEpoch` to
 * `runExperiment(data, recipe, { onEpoch })`, `net.train(...)`, `net.trainMiniBatch(...)` or
 * `layer.train(...)`. In Jupyter it shows one plotly figure (loss per layer against epoch) and
 * updates that same output in place, throttled, with a last update when training ends; the saved
 * notebook keeps that last state. Outside Jupyter it is {@linkcode progressReporter}'s text.
 * Create it just before training; a new run with the same callback (its epochs start again)
 * gets a figure of its own.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "../core/deps.ts";
 * import { Layer } from "../core/layer.ts";
 * import { trainingPlot } from "./live.ts";
 * const layer = new Layer(3, 4, { epochs: 20, seed: 1 });
 * const [x, y] = [tf.ones([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D];
 * const [hx, hy] = await layer.train(x, y, { onEpoch: trainingPlot() }); // a live figure in Jupyter
 * assertEquals(layer.losses.length, 20);
 * tf.dispose([x, y, hx, hy]);
 * ```
 */
export function trainingPlot(options: TrainingPlotOptions = {}): ProgressCallback {
  const display = options.display ?? jupyterDisplay();
  if (!display || options.quiet) return progressReporter(options);
  const {
    title = "FF loss per layer",
    minIntervalMs = 500,
    now = () => performance.now(),
    label,
  } = options;
  if (!(minIntervalMs >= 0)) {
    throw new Error(`minIntervalMs must be a number of milliseconds >= 0, got ${minIntervalMs}`);
  }
  const prefix = label ? `${label}: ` : "";
  let displayId = "";
  let curves: Curves = [];
  // Time runs from the callback's creation; a later run's from the previous run's last epoch.
  let start = now();
  let lastTime = start;
  let lastDraw = -Infinity;
  // Infinity: the first epoch reported starts a run.
  let lastDone = Infinity;
  return async (p: EpochProgress) => {
    if (p.warning) console.warn(`${prefix}warning: ${p.warning}`);
    const done = p.layer * p.epochs + p.epoch;
    const t = now();
    // The first epoch, or epochs starting again: a new run, with a figure of its own.
    const fresh = done <= lastDone;
    if (fresh) {
      displayId = `ff-training-plot-${crypto.randomUUID()}`;
      curves = [];
      start = lastTime;
      lastDraw = -Infinity;
    }
    lastDone = done;
    lastTime = t;
    const perLayer = p.losses ?? [];
    const points = perLayer.length > 0
      ? perLayer.map((loss, layer) => [layer, loss])
      : [[p.layer, p.loss]];
    for (const [layer, loss] of points) {
      curves[layer] ??= { x: [], y: [] };
      curves[layer].x.push(p.epoch);
      curves[layer].y.push(loss);
    }
    for (let layer = 0; layer < curves.length; layer++) curves[layer] ??= { x: [], y: [] };
    const runEnd = p.epoch === p.epochs && p.layer === p.layers - 1;
    const layerEnd = p.epoch === p.epochs;
    if (!fresh && !layerEnd && t - lastDraw < minIntervalMs) return;
    lastDraw = t;
    const elapsed = formatDuration(t - start);
    const status = runEnd
      ? `${prefix}trained in ${elapsed}`
      : `${prefix}${whichLayers(p)}, epoch ${p.epoch}/${p.epochs}, ${elapsed}`;
    const bundle = mimeBundle(lossFigure(curves, p.epochs, `${title} (${status})`));
    bundle["text/plain"] = [...lossLines(curves), status].join("\n");
    await display(bundle, { display_id: displayId, ...(fresh ? {} : { update: true }) });
  };
}
