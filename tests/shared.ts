/**
 * Finds the project's shared material (../shared beside the repository: real MNIST files,
 * conformance values). Tests that need it are ignored, with the reason printed, where it is
 * absent, except under CI=true, where its absence must fail the run.
 *
 * @module
 */

/** Absolute path of `relative` inside ../shared, or undefined when it is not there. */
export function sharedPath(relative: string): string | undefined {
  const path = new URL(`../../shared/${relative}`, import.meta.url).pathname;
  return exists(path) ? path : undefined;
}

/** True when something is at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when a test must not be skipped for missing material. */
export const IN_CI = Deno.env.get("CI") === "true";

/**
 * `ignore` for Deno.test: true (and says why on stderr) when `path` is missing outside CI.
 */
export function ignoreUnless(available: unknown, what: string): boolean {
  if (available || IN_CI) return false;
  console.error(`ignored: ${what} is not available here`);
  return true;
}

/**
 * Why the webgpu backend cannot run here, or undefined when a WebGPU adapter answers. The
 * adapter is the one tfjs-backend-webgpu asks for.
 */
export async function webgpuMissing(): Promise<string | undefined> {
  if (!("gpu" in navigator)) return "this Deno has no navigator.gpu";
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  return adapter === null
    ? "no WebGPU adapter (without a GPU, Debian's mesa-vulkan-drivers gives a software one)"
    : undefined;
}
