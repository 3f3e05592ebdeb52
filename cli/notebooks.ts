/**
 * `deno task notebooks`: runs the notebooks in notebooks/ top to bottom, each in a fresh Deno
 * kernel, headless, through Jupyter, and writes the executed copies (tools/notebooks.ts does the
 * work).
 *
 * Executed copies go to .out/notebooks/; each carries plotly.js in its first cell's outputs, so
 * that it opens (or exports to html) as a page that draws offline. `--inplace` writes them back
 * into notebooks/ as they are committed instead: small, with a PNG of each figure.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../lib/files.ts";
import {
  chromiumPngs,
  executeNotebook,
  exportHtml,
  jupyterMissing,
  listNotebooks,
  serialize,
  type Size,
  writeCommitted,
} from "../tools/notebooks.ts";

const USAGE = `Usage: deno task notebooks [flags] [NAME ...]

Runs the notebooks top to bottom, each in a fresh Deno kernel, through Jupyter.

  NAME          only these notebooks: 01, 04_training or 04_training.ipynb (default: all)
  --quick       tiny runs, seconds per notebook (sets FF_QUICK=1)
  --full        the recipes at full size: hours for them all on a 2-core CPU (sets FF_FULL=1)
  --inplace     write the executed notebooks back into notebooks/, as committed (PNGs)
  --out DIR     where executed copies go otherwise (default .out/notebooks)
  --html        also export each executed copy to html (a page that draws offline)
  --timeout S   stop a cell after S seconds (default: no limit)
  --help        this text

Needs Jupyter's nbconvert (Debian: apt-get install jupyter-nbconvert).`;

/** Parsed command line. */
export interface NotebooksOptions {
  names: string[];
  size?: Size;
  inplace: boolean;
  out: string;
  html: boolean;
  timeoutSeconds?: number;
}

/**
 * Reads the command line; throws a one-line error for anything it cannot use.
 *
 * @example
 * ```ts
 * parseNotebooksArgs(["--quick", "04"]); // { names: ["04"], size: "quick", inplace: false, ... }
 * ```
 */
export function parseNotebooksArgs(args: string[]): NotebooksOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        quick: { type: "boolean" },
        full: { type: "boolean" },
        inplace: { type: "boolean" },
        html: { type: "boolean" },
        out: { type: "string" },
        timeout: { type: "string" },
        help: { type: "boolean" },
      },
    });
  } catch (e) {
    throw new Error(`${(e as Error).message.split(".")[0]}; see --help`);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (values.quick && values.full) throw new Error("--quick and --full exclude each other");
  if (values.inplace && values.out) {
    throw new Error("--inplace writes into notebooks/: leave out --out");
  }
  let timeoutSeconds: number | undefined;
  if (values.timeout !== undefined) {
    timeoutSeconds = Number(values.timeout);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
      throw new Error(`--timeout must be a whole number of seconds >= 1, got "${values.timeout}"`);
    }
  }
  return {
    names: positionals,
    size: values.quick ? "quick" : values.full ? "full" : undefined,
    inplace: values.inplace ?? false,
    out: values.out ?? new URL("../.out/notebooks", import.meta.url).pathname,
    html: values.html ?? false,
    timeoutSeconds,
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

async function main(args: string[]): Promise<number> {
  const options = parseNotebooksArgs(args);
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  const paths = listNotebooks(options.names);
  const missing = await jupyterMissing();
  if (missing) throw new Error(`${missing}; see --help`);
  if (!options.inplace) await Deno.mkdir(options.out, { recursive: true });
  const pngs = options.inplace ? await chromiumPngs() : undefined;
  if (options.inplace && !pngs) {
    console.error("no Chromium on PATH: committed figures get a line of html instead of a PNG");
  }
  const failures: string[] = [];
  for (const path of paths) {
    const name = path.replace(/^.*\//, "");
    console.log(`${name}: running${options.size ? ` (${options.size})` : ""}…`);
    try {
      const { notebook, seconds } = await executeNotebook(path, {
        size: options.size,
        timeoutSeconds: options.timeoutSeconds,
        log: "inherit",
      });
      let written: string;
      if (options.inplace) {
        written = path;
        await writeCommitted(written, notebook, pngs?.draw).catch(async (e) => {
          // Minutes of running are not thrown away for a figure that failed to draw.
          const kept = `${options.out}/${name}`;
          await Deno.mkdir(options.out, { recursive: true });
          await writeFileAtomic(kept, serialize(notebook));
          throw new Error(`${(e as Error).message}; the executed notebook is kept in ${kept}`);
        });
      } else {
        written = `${options.out}/${name}`;
        await writeFileAtomic(written, serialize(notebook));
        if (options.html) console.log(`  ${await exportHtml(written, options.out)}`);
      }
      const size = (await Deno.stat(written)).size;
      console.log(
        `${name}: done in ${seconds.toFixed(1)} s, wrote ${written} (${megabytes(size)})`,
      );
    } catch (e) {
      failures.push(name);
      console.error(`${name}: ${(e as Error).message}`);
    }
  }
  await pngs?.close();
  if (failures.length > 0) {
    console.error(`failed: ${failures.join(", ")}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
