/**
 * What the running process costs, for the numbers printed beside every timing.
 *
 * @module
 */

/**
 * The process's peak resident memory in MiB (Linux's VmHWM, which Deno lets only --allow-all
 * read); null where unreadable.
 *
 * @example
 * ```ts
 * import { peakMemoryMiB } from "./process.ts";
 * console.log(`peak: ${peakMemoryMiB() ?? "unreadable"} MiB`);
 * ```
 */
export function peakMemoryMiB(): number | null {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    return Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1]) / 1024 || null;
  } catch {
    return null;
  }
}

/**
 * The commit the working tree is at, read from `.git` beside `dir` or above it (no `git` process,
 * so a script needs only --allow-read); null outside a git checkout.
 *
 * @example
 * ```ts
 * import { gitCommit } from "./process.ts";
 * const commit = gitCommit(new URL("..", import.meta.url).pathname);
 * console.log(commit === null || /^[0-9a-f]{40}$/.test(commit)); // true
 * ```
 */
export function gitCommit(dir: string = Deno.cwd()): string | null {
  try {
    let git = dir.replace(/\/+$/, "");
    while (true) {
      try {
        if (Deno.statSync(`${git}/.git`).isDirectory) break;
      } catch { /* not here: look above */ }
      const up = git.replace(/\/[^/]*$/, "");
      if (up === git || up === "") return null;
      git = up;
    }
    const head = Deno.readTextFileSync(`${git}/.git/HEAD`).trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    try {
      return Deno.readTextFileSync(`${git}/.git/${ref}`).trim();
    } catch {
      // A packed ref: "<sha> <ref>" lines in packed-refs.
      const packed = Deno.readTextFileSync(`${git}/.git/packed-refs`);
      return packed.split("\n").find((l) => l.endsWith(` ${ref}`))?.split(" ")[0] ?? null;
    }
  } catch {
    return null;
  }
}
