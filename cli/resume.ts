/**
 * What `deno task train` does to be stopped and continued: `--resume` reads the run's settings
 * from its checkpoint (lib/checkpoint.ts), a new run refuses to write over an unfinished one,
 * Ctrl-C and SIGTERM stop training after the epoch under way, and a stopped run leaves a partial
 * report and the command that continues it.
 *
 * Signals are heard in a worker (./signal_worker.ts): training computes for seconds at a time
 * without letting the main thread's event loop turn, so a listener there could neither answer at
 * once nor let a second Ctrl-C through. The worker says at once that the run will stop after the
 * epoch under way, tells the main thread (which reads the message between epochs), and drops its
 * listeners, so that a second signal ends the process the default way, at once: the last
 * checkpoint stays whole, as it is only ever replaced by a rename.
 *
 * @module
 */
import {
  CHECKPOINT_FILE,
  describePosition,
  readCheckpoint,
  type TrainingInterrupted,
} from "../lib/checkpoint.ts";
import { tf } from "../lib/core/mod.ts";
import type { DatasetName } from "../lib/data/mod.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { lossCurves, writeReport } from "../lib/plot/mod.ts";
import type { ResumeOptions, TrainOptions } from "./train.ts";

/** The run that `--resume` continues, as its checkpoint describes it. */
export async function resumedRun(options: ResumeOptions): Promise<TrainOptions> {
  const dir = options.resume;
  const saved = await readCheckpoint(dir);
  const { dataset, data } = (saved?.meta ?? {}) as { dataset?: DatasetName; data?: string };
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
    checkpointEvery: options.checkpointEvery,
    evaluateEvery: options.evaluateEvery,
    resumed: saved,
  };
}

/** A new run must not write over the checkpoint of one that has yet to finish. */
export async function checkNoCheckpoint(out: string): Promise<void> {
  try {
    await Deno.stat(`${out}/${CHECKPOINT_FILE}`);
  } catch {
    return;
  }
  throw new Error(
    `--out ${out} holds the checkpoint of an unfinished run: continue it with --resume ` +
      `${out}, or choose another --out`,
  );
}

/** `deno task train --resume DIR`, DIR quoted for a POSIX shell where it must be. */
function resumeCommand(dir: string): string {
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
  signal: AbortSignal;
  /** Gives the signals back their default: from then on they end the process at once. */
  release(): void;
}

/** Listens for SIGINT and SIGTERM (SIGINT alone on Windows) until released. */
export function stopOnSignals(): StopOnSignals {
  const controller = new AbortController();
  const worker = new Worker(new URL("./signal_worker.ts", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => controller.abort(data);
  let released = false;
  return {
    signal: controller.signal,
    release() {
      if (released) return;
      released = true;
      worker.terminate();
    },
  };
}
