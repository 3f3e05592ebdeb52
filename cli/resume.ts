/**
 * What `deno task train` does to be stopped and continued: `--resume` reads the run's settings
 * from its checkpoint (lib/checkpoint.ts), Ctrl-C, SIGTERM and SIGHUP stop training after the
 * epoch under way, and a stopped run leaves a partial report and the command that continues it.
 *
 * Signals are heard in a worker (./signal_worker.ts): training computes for seconds at a time
 * without letting the main thread's event loop turn, so a listener there could neither answer at
 * once nor let a second Ctrl-C through. The worker says at once what will happen, tells the main
 * thread (which reads the message between epochs), and drops its listeners, so that a second
 * signal ends the process the default way, at once: the last checkpoint stays whole, as it is
 * only ever replaced by a rename. Once the last epoch is done the run is "finishing": the final
 * checkpoint holds the trained network, and a signal lets the scores and files be written (or,
 * given twice, leaves that checkpoint for `--resume` to finish from).
 *
 * @module
 */
import {
  CHECKPOINT_FILE,
  describePosition,
  readCheckpoint,
  type SavedCheckpoint,
  type TrainingInterrupted,
} from "../lib/checkpoint.ts";
import { tf } from "../lib/core/mod.ts";
import type { DatasetName } from "../lib/data/mod.ts";
import type { ExperimentResult, Recipe } from "../lib/experiment.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { lossCurves, writeReport } from "../lib/plot/mod.ts";

/** Parsed flags of a new run: the recipe plus where to run and write. */
export interface TrainOptions {
  recipe: Recipe;
  dataset: DatasetName;
  data: string;
  backend?: string;
  /** The run folder; undefined: a new `runs/<date-time>`. */
  out?: string;
  /** Replace the results of another run in `out`. */
  overwrite?: boolean;
  evaluateEvery?: number;
  /** Given: checkpoints are wanted, and one that cannot be written stops the run. */
  checkpointEvery?: number;
  /** The checkpoint a resumed run continues from. */
  resumed?: SavedCheckpoint;
}

/** `--resume DIR`: the run's settings come from its checkpoint. */
export interface ResumeOptions {
  resume: string;
  data?: string;
  backend?: string;
  checkpointEvery?: number;
  evaluateEvery?: number;
}

/** A point of the curve `--eval-every` draws. */
export type CurvePoint = ExperimentResult["curve"][number];

/**
 * What the CLI keeps in a checkpoint's `meta`, so that `--resume DIR` alone continues the run as
 * it was started: where its data is, its intervals, and the curve drawn so far.
 */
export interface RunMeta {
  dataset: DatasetName;
  data: string;
  checkpointEvery?: number;
  evaluateEvery?: number;
  curve: CurvePoint[];
}

/** The run that `--resume` continues, as its checkpoint describes it. */
export async function resumedRun(options: ResumeOptions): Promise<TrainOptions> {
  const dir = options.resume;
  const saved = await readCheckpoint(dir);
  const meta = (saved?.meta ?? {}) as Partial<RunMeta>;
  const { dataset, data } = meta;
  if (!saved?.recipe || !dataset || !data) {
    const metrics = await Deno.readTextFile(`${dir}/metrics.json`).then(JSON.parse, () => null);
    throw new Error(
      saved
        ? `${dir}/${CHECKPOINT_FILE} was not written by deno task train: continue it where it ` +
          `was made`
        : metrics && !metrics.interrupted
        ? `--resume ${dir}: that run has finished; its results are in ${dir}/metrics.json`
        : `--resume ${dir}: there is no ${CHECKPOINT_FILE} to continue from`,
    );
  }
  return {
    recipe: saved.recipe,
    dataset,
    data: options.data ?? data,
    backend: options.backend ?? saved.backend,
    out: dir,
    // Given again, an interval replaces the run's own; else the run keeps what it was started with.
    checkpointEvery: options.checkpointEvery ?? meta.checkpointEvery,
    evaluateEvery: options.evaluateEvery ?? meta.evaluateEvery,
    resumed: saved,
  };
}

/** `deno task train --resume DIR`, DIR quoted for a POSIX shell where it must be. */
export function resumeCommand(dir: string): string {
  const quoted = /^[\w./-]+$/.test(dir) ? dir : `'${dir.replaceAll("'", "'\\''")}'`;
  return `deno task train --resume ${quoted}`;
}

/**
 * A stopped run's partial report.html and metrics.json (marked interrupted), and the command that
 * continues it.
 */
export async function reportInterrupted(
  e: TrainingInterrupted,
  out: string,
  about: Record<string, unknown>,
  summary: Record<string, string | number>,
  name: string,
  curve: CurvePoint[],
): Promise<void> {
  const stopped = describePosition(e.position);
  const resume = e.saved ? resumeCommand(out) : null;
  try {
    await Deno.mkdir(out, { recursive: true });
    await writeReport(`${out}/report.html`, {
      title: `Forward-Forward, recipe ${name}: interrupted after ${stopped}`,
      summary: {
        ...summary,
        "interrupted after": stopped,
        "continue with": resume ?? "(no checkpoint could be written)",
        "training seconds": e.trainSeconds.toFixed(1),
      },
      figures: [lossCurves(e.losses)],
    });
    const metrics = {
      ...about,
      interrupted: true,
      stopped_after: stopped,
      resume,
      train_seconds: e.trainSeconds,
      losses: e.losses,
      curve,
      tfjs: tf.version_core,
      deno: Deno.version.deno,
    };
    await writeFileAtomic(`${out}/metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
  } catch (error) {
    console.error(`warning: cannot write the partial report: ${(error as Error).message}`);
  }
  console.log(
    resume
      ? `interrupted after ${stopped}; to continue: ${resume}`
      : `interrupted after ${stopped}; no checkpoint could be written to ${out}`,
  );
}

/** Where the worker's signals go: `signal` aborts (with the signal's name) on the first one. */
export interface StopOnSignals {
  /** Aborted by the first signal while training: training stops after the epoch under way. */
  signal: AbortSignal;
  /** The first signal heard, training or finishing. */
  readonly received?: Deno.Signal;
  /**
   * Training is over (the last epoch is done, and its checkpoint holds the trained network): from
   * now on a signal lets the results be written, then the run stops; `resume` says how to finish
   * them if a second signal stops the run before.
   */
  finishing(resume: string): void;
  /** Gives the signals back their default: from then on they end the process at once. */
  release(): void;
}

/** The exit code of a run stopped by `signal`: 128 plus its number, as a shell reports it. */
export function exitCode(signal: Deno.Signal): number {
  return 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as Record<string, number>)[signal];
}

/** Listens for SIGINT, SIGTERM and SIGHUP (SIGINT alone on Windows) until released. */
export function stopOnSignals(): StopOnSignals {
  const controller = new AbortController();
  const worker = new Worker(new URL("./signal_worker.ts", import.meta.url), { type: "module" });
  let received: Deno.Signal | undefined;
  let finishing = false;
  worker.onmessage = ({ data }) => {
    received ??= data;
    // Once training is over there is no epoch to stop after: the run writes its results.
    if (!finishing) controller.abort(data);
  };
  let released = false;
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    finishing(resume) {
      if (finishing) return;
      finishing = true;
      worker.postMessage({ resume });
    },
    release() {
      if (released) return;
      released = true;
      worker.terminate();
    },
  };
}
