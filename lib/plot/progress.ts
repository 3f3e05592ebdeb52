/**
 * Training progress: layer, epoch, loss, elapsed time and time left, shown where the training
 * runs. In a terminal, one line that rewrites itself; in a log (stdout not a terminal), a plain
 * line every tenth of a layer's epochs; in a Jupyter notebook, one output that updates in
 * place.
 *
 * @module
 */
import type { EpochProgress } from "../core/mod.ts";
import { type JupyterDisplay, jupyterDisplay } from "../jupyter.ts";
import { escapeHtml } from "./html.ts";

export type { EpochProgress };

/** Where progress goes: `"auto"` picks jupyter, terminal or lines for where it runs. */
export type ProgressMode = "auto" | "terminal" | "lines" | "jupyter";

/** Options of {@linkcode progressReporter}. */
export interface ProgressOptions {
  /** Default `"auto"`: Jupyter inside the kernel, else terminal if stdout is one, else lines. */
  mode?: ProgressMode;
  /** Report nothing. */
  quiet?: boolean;
  /** Where terminal and lines output goes; default stdout. A writer also makes "auto" pick lines. */
  write?: (text: string) => void;
  /** Milliseconds since some fixed start; default `performance.now`. For tests. */
  now?: () => number;
  /** Words before each report, e.g. the run's name. */
  label?: string;
}

/** The per-epoch callback that training awaits. */
export type ProgressCallback = (progress: EpochProgress) => Promise<void>;

/**
 * `12.3s`, `4m05s`, `1h02m`: short enough for a progress line.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatDuration } from "./progress.ts";
 * assertEquals(formatDuration(245_000), "4m05s");
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const wholeSeconds = Math.round(seconds);
  const minutes = Math.floor(wholeSeconds / 60);
  if (minutes < 60) return `${minutes}m${String(wholeSeconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/**
 * Time left if the remaining epochs take as long as the done ones did on average. Layers of
 * different widths differ in speed, so it is a guide, not a promise.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { remainingMs } from "./progress.ts";
 * assertEquals(remainingMs(10_000, 250, 1000), 30_000); // a quarter took 10 s, three quarters are left
 * ```
 */
export function remainingMs(elapsedMs: number, done: number, total: number): number {
  if (done <= 0) return Infinity;
  return elapsedMs * Math.max(0, total - done) / done;
}

/** One epoch's progress with the run's clock, the form every mode prints from. */
interface Snapshot extends EpochProgress {
  done: number;
  total: number;
  elapsedMs: number;
  etaMs: number;
}

function checkProgress(p: EpochProgress): void {
  const valid = Number.isInteger(p.layers) && p.layers >= 1 &&
    Number.isInteger(p.layer) && p.layer >= 0 && p.layer < p.layers &&
    Number.isInteger(p.epochs) && p.epochs >= 1 &&
    Number.isInteger(p.epoch) && p.epoch >= 1 && p.epoch <= p.epochs;
  if (!valid) {
    throw new Error(
      `bad progress ${
        JSON.stringify(p)
      }: need 0 <= layer < layers and 1 <= epoch <= epochs, all integers`,
    );
  }
}

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toFixed(4) : String(loss);
}

/**
 * "layer 2/3", or for mini-batch training, which trains every layer at once and reports their
 * mean loss, "all 3 layers".
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { whichLayers } from "./progress.ts";
 * assertEquals(whichLayers({ layer: 0, layers: 1, epoch: 3, epochs: 6, loss: 0.5, losses: [0.4, 0.6] }), "all 2 layers");
 * ```
 */
export function whichLayers(p: EpochProgress): string {
  const together = p.losses?.length ?? 0;
  return together > 1 ? `all ${together} layers` : `layer ${p.layer + 1}/${p.layers}`;
}

function lossName(p: EpochProgress): string {
  return (p.losses?.length ?? 0) > 1 ? "mean loss" : "loss";
}

function describe(s: Snapshot): string {
  return `${whichLayers(s)} epoch ${s.epoch}/${s.epochs} ${lossName(s)} ${
    formatLoss(s.loss)
  } elapsed ${formatDuration(s.elapsedMs)} ETA ${formatDuration(s.etaMs)}`;
}

function isLayerEnd(s: Snapshot): boolean {
  return s.epoch === s.epochs;
}

function isRunEnd(s: Snapshot): boolean {
  return s.done === s.total;
}

function bar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

/** Redraws are throttled to this; layer ends and the run's end always show. */
const MIN_REDRAW_MS = 250;

type Show = (s: Snapshot) => void | Promise<void>;

let stdoutClosed = false;

function writeToStdout(text: string): void {
  // Progress is a side channel: a reader that went away (`| head`) must not end the training.
  if (stdoutClosed) return;
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    stdoutClosed = true;
  }
}

/** The longest a log goes without a progress line. */
const LINE_EVERY_MS = 60_000;

/**
 * A line every ~10% of a layer's epochs, and the last one; and one at least every minute, so
 * that a long run's log shows it is alive (200 epochs of 20 s would wait 7 minutes for a line).
 */
function linesMode(write: (text: string) => void, prefix: string): Show {
  let lastLineMs = 0;
  return (s) => {
    const every = Math.max(1, Math.ceil(s.epochs / 10));
    if (s.epoch % every === 0 || isLayerEnd(s) || s.elapsedMs - lastLineMs >= LINE_EVERY_MS) {
      lastLineMs = s.elapsedMs;
      write(`${prefix}${describe(s)}\n`);
    }
  };
}

/** One line rewritten in place (`\r` + clear line); each finished layer keeps a line. */
function terminalMode(write: (text: string) => void, prefix: string, now: () => number): Show {
  let lastDraw = -Infinity;
  return (s) => {
    const t = now();
    if (!isLayerEnd(s) && t - lastDraw < MIN_REDRAW_MS) return;
    lastDraw = t;
    const clear = "\r\x1b[2K";
    if (isLayerEnd(s)) {
      write(
        `${clear}${prefix}${whichLayers(s)} done: ${lossName(s)} ${formatLoss(s.loss)} ` +
          `after ${s.epochs} epochs, elapsed ${formatDuration(s.elapsedMs)}` +
          `${isRunEnd(s) ? "" : `, ETA ${formatDuration(s.etaMs)}`}\n`,
      );
    } else {
      write(`${clear}${prefix}${bar(s.done / s.total)} ${describe(s)}`);
    }
  };
}

/** One notebook output, updated in place, with a line kept for each finished layer. */
function jupyterMode(display: JupyterDisplay, prefix: string, now: () => number): Show {
  const displayId = `ff-progress-${crypto.randomUUID()}`;
  const finished: string[] = [];
  let shown = false;
  let lastDraw = -Infinity;
  return async (s) => {
    const t = now();
    if (!isLayerEnd(s) && t - lastDraw < MIN_REDRAW_MS) return;
    lastDraw = t;
    if (isLayerEnd(s)) {
      finished.push(
        `${whichLayers(s)}: ${lossName(s)} ${formatLoss(s.loss)} after ${s.epochs} epochs`,
      );
    }
    const status = isRunEnd(s) ? `done in ${formatDuration(s.elapsedMs)}` : describe(s);
    const text = [...finished, `${prefix}${status}`].join("\n");
    const html = `<div style="font-family:monospace">` +
      finished.map((line) => `<div>${escapeHtml(line)}</div>`).join("") +
      `<progress value="${s.done}" max="${s.total}" style="width:20em"></progress> ` +
      `${escapeHtml(prefix + status)}</div>`;
    await display({ "text/plain": text, "text/html": html }, {
      display_id: displayId,
      ...(shown ? { update: true } : {}),
    });
    shown = true;
  };
}

/**
 * The per-epoch callback that shows training progress: pass it as training's `onEpoch`
 * (or call it yourself after each epoch) and await it. Time runs from the reporter's
 * creation, so create it just before training. The time left spans all layers, assuming each
 * has the same number of epochs.
 *
 * @example
 * ```ts
 * import { tf } from "../core/deps.ts";
 * import { Layer } from "../core/layer.ts";
 * import { progressReporter } from "./progress.ts";
 * const layer = new Layer(3, 4, { epochs: 20 });
 * const [x, y] = [tf.ones([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D];
 * await layer.train(x, y, { onEpoch: progressReporter() });
 * // terminal: [#########-----------] layer 1/1 epoch 9/20 loss 0.4123 elapsed 0.1s ETA 0.1s
 * ```
 */
export function progressReporter(options: ProgressOptions = {}): ProgressCallback {
  const { quiet = false, now = () => performance.now(), label } = options;
  if (quiet) return () => Promise.resolve();
  const prefix = label ? `${label}: ` : "";
  const write = options.write ?? writeToStdout;
  let mode = options.mode ?? "auto";
  const display = jupyterDisplay();
  if (mode === "auto") {
    if (options.write) mode = "lines";
    else if (display) mode = "jupyter";
    else mode = Deno.stdout.isTerminal() ? "terminal" : "lines";
  }
  if (mode === "jupyter" && !display) {
    throw new Error('progress mode "jupyter" works only inside `deno jupyter`: use "auto"');
  }
  let show: Show;
  if (mode === "jupyter") show = jupyterMode(display!, prefix, now);
  else if (mode === "terminal") show = terminalMode(write, prefix, now);
  else if (mode === "lines") show = linesMode(write, prefix);
  else throw new Error(`unknown progress mode "${mode}": use auto, terminal, lines or jupyter`);

  let start = now();
  let lastDone = 0;
  let lastTime = start;
  // Epochs done before this reporter's run began: a run resumed from a checkpoint (issue #12)
  // starts far into its epochs, and only those it runs here tell how fast it goes.
  let before: number | undefined;
  return async (progress) => {
    checkProgress(progress);
    if (progress.warning) console.warn(`${prefix}warning: ${progress.warning}`);
    const t = now();
    const total = progress.layers * progress.epochs;
    const done = progress.layer * progress.epochs + progress.epoch;
    // Progress going back means a new run with the same reporter: its clock starts anew, at
    // the end of the previous run's last report.
    if (done <= lastDone) [start, before] = [lastTime, undefined];
    before ??= done - 1;
    lastDone = done;
    lastTime = t;
    const elapsedMs = t - start;
    const etaMs = remainingMs(elapsedMs, done - before, total - before);
    await show({ ...progress, done, total, elapsedMs, etaMs });
  };
}
