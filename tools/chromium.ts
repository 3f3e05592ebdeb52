/**
 * Finding a Chromium for the dev tools and tests that draw figures or drive a page headless.
 *
 * @module
 */

/** Names a Chromium (or Chrome) binary goes by, in the order they are looked for. */
export const CHROMIUMS: readonly string[] = [
  "chromium",
  "chromium-browser",
  "google-chrome",
  "google-chrome-stable",
];

/**
 * Path of the first of `names` found in a folder on PATH, or undefined.
 *
 * @example
 * ```ts
 * findOnPath(["jupyter-notebook"]); // "/usr/bin/jupyter-notebook" on Debian with it installed
 * ```
 */
export function findOnPath(names: readonly string[]): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  for (const name of names) {
    for (const dir of dirs) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch {
        // not in this folder
      }
    }
  }
  return undefined;
}

/**
 * Path of a Chromium (or Chrome) binary on PATH, or undefined.
 *
 * @example
 * ```ts
 * const chromium = findChromium(); // "/usr/bin/chromium" on Debian
 * ```
 */
export function findChromium(): string | undefined {
  return findOnPath(CHROMIUMS);
}
