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
    let dotGit: Deno.FileInfo | undefined;
    while (true) {
      try {
        dotGit = Deno.statSync(`${git}/.git`);
        break;
      } catch { /* not here: look above */ }
      const up = git.replace(/\/[^/]*$/, "");
      if (up === git || up === "") return null;
      git = up;
    }
    // A worktree's .git is a file naming its own folder, whose `commondir` holds the refs.
    let gitDir = `${git}/.git`;
    let refsDir = gitDir;
    if (!dotGit.isDirectory) {
      const named = Deno.readTextFileSync(gitDir).match(/^gitdir: (.*)$/m)?.[1].trim();
      if (!named) return null;
      gitDir = named.startsWith("/") ? named : `${git}/${named}`;
      let common = ".";
      try {
        common = Deno.readTextFileSync(`${gitDir}/commondir`).trim();
      } catch { /* a plain gitdir: its refs are its own */ }
      refsDir = common.startsWith("/") ? common : `${gitDir}/${common}`;
    }
    const head = Deno.readTextFileSync(`${gitDir}/HEAD`).trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    try {
      return Deno.readTextFileSync(`${refsDir}/${ref}`).trim();
    } catch {
      // A packed ref: "<sha> <ref>" lines in packed-refs.
      const packed = Deno.readTextFileSync(`${refsDir}/packed-refs`);
      return packed.split("\n").find((l) => l.endsWith(` ${ref}`))?.split(" ")[0] ?? null;
    }
  } catch {
    return null;
  }
}
