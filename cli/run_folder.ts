/**
 * The run folder of `deno task train`, claimed before any training: a new run never writes into a
 * folder that holds another run's results (unless told to), two runs never share one, and a folder
 * that cannot be written is found before the hours of training rather than after.
 *
 * The lock is an advisory lock (flock) on `.train.lock` inside the folder: the system drops it
 * when its process ends, however it ends (a `kill -9` included), so a lock left by a dead run never
 * blocks the next one, and no process id can be mistaken for another's after the id is reused.
 *
 * @module
 */
import { CHECKPOINT_FILE } from "../lib/checkpoint.ts";

/** The trained network a finished run leaves (binary, lib/weights.ts). */
export const WEIGHTS_FILE = "weights.ffw";
/**
 * The files a run writes into its folder: their presence means the folder holds a run
 * (`weights.json`: what runs before the binary file wrote).
 */
export const RESULT_FILES = [
  CHECKPOINT_FILE,
  "metrics.json",
  WEIGHTS_FILE,
  "weights.json",
  "report.html",
];
const LOCK_FILE = ".train.lock";

/** A run folder held by this process until `release`. */
export interface RunFolder {
  dir: string;
  /**
   * With `overwrite`, the result files of the run there before: the new run removes them once it
   * is sure to train (its input checked), so that a typo leaves them whole but a new run stopped
   * halfway never leaves the old weights beside its own metrics.
   */
  previous: string[];
  /** Unlocks the folder and removes the lock file, and the folder if this run made it for nothing. */
  release(): void;
}

/** How a run claims its folder. */
export interface ClaimOptions {
  /** A run that continues the one in the folder: its files are its own. */
  resume?: boolean;
  /** A new run may replace the results in the folder. */
  overwrite?: boolean;
}

/**
 * Claims `dir` (made when missing; `undefined`: a new `runs/<date-time>` no other run has) for
 * this process: locked, written to, and holding no other run's results.
 */
export async function claimRunFolder(
  dir: string | undefined,
  { resume = false, overwrite = false }: ClaimOptions = {},
): Promise<RunFolder> {
  const flag = resume ? "--resume" : "--out";
  const made = dir === undefined || !(await Deno.stat(dir).then(() => true, () => false));
  dir ??= await freshRunFolder("runs");
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`${flag} ${dir} cannot be made: ${reason(e)}: choose a writable folder`);
  }
  const folder = dir;
  const unlock = await lock(dir, flag);
  const release = () => {
    unlock();
    // A run that stopped before writing anything leaves no empty folder behind (a folder
    // that is not empty is not removed).
    if (!made) return;
    try {
      Deno.removeSync(folder);
    } catch {
      // Not empty: the run's files are in it.
    }
  };
  const held = resume ? [] : await present(dir).catch((e) => {
    release();
    throw e;
  });
  try {
    if (!resume) {
      if (held.includes(CHECKPOINT_FILE) && !overwrite) {
        throw new Error(
          `--out ${dir} holds the checkpoint of an unfinished run: continue it with --resume ` +
            `${dir}, or choose another --out (or give --overwrite to discard it)`,
        );
      }
      if (held.length && !overwrite) {
        throw new Error(
          `--out ${dir} holds the results of another run (${held.join(", ")}): choose another ` +
            `--out, or give --overwrite to replace them`,
        );
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return { dir, previous: held, release };
}

/** `parent/<date-time>`, made here, with `-2`, `-3`, ... added when another run took the name. */
async function freshRunFolder(parent: string): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  try {
    await Deno.mkdir(parent, { recursive: true });
  } catch (e) {
    throw new Error(`cannot make ${parent}/ for the run: ${reason(e)}: give --out DIR`);
  }
  for (let n = 1;; n++) {
    const dir = `${parent}/${stamp}${n > 1 ? `-${n}` : ""}`;
    try {
      // Made without `recursive`, which fails when the folder exists: the name is this run's alone.
      await Deno.mkdir(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new Error(`cannot make ${dir}: ${reason(e)}: give --out DIR`);
      }
    }
  }
}

async function present(dir: string): Promise<string[]> {
  const held = [];
  for (const name of RESULT_FILES) {
    try {
      await Deno.lstat(`${dir}/${name}`);
      held.push(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return held;
}

/** Locks `dir` for this process; the process id written in the lock proves the folder writable. */
async function lock(dir: string, flag: string): Promise<() => void> {
  const path = `${dir}/${LOCK_FILE}`;
  for (;;) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true });
    } catch (e) {
      throw new Error(`${flag} ${dir} is not writable: ${reason(e)}: choose a writable folder`);
    }
    if (!(await file.tryLock(true))) {
      const pid = (await Deno.readTextFile(path).catch(() => "")).trim();
      file.close();
      throw new Error(
        `${flag} ${dir} is in use by another run${pid ? ` (process ${pid})` : ""}: wait for it ` +
          `to end, or choose another folder`,
      );
    }
    // The lock file may have been removed by the run that held it, between our open and our
    // lock: then this lock is on a file no one else will open. Start again on the file there now.
    const [mine, there] = [await file.stat(), await Deno.stat(path).catch(() => null)];
    if (there?.ino !== mine.ino || there?.dev !== mine.dev) {
      file.close();
      continue;
    }
    try {
      await file.truncate(0);
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      await file.syncData();
    } catch (e) {
      file.close();
      await Deno.remove(path).catch(() => {});
      throw new Error(`${flag} ${dir} is not writable: ${reason(e)}: choose a writable folder`);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Removed while still locked, so that no other run can lock this file after it is unlinked
      // and believe it holds the folder (it checks that its file is still the one there).
      try {
        Deno.removeSync(path);
      } catch {
        // Gone already, or the folder went read-only: the lock itself ends with the process.
      }
      file.close();
    };
  }
}

function reason(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}
