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
