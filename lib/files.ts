/**
 * Writing files so that a crash or a bad input never leaves a half-written file behind.
 *
 * @module
 */

/**
 * Writes `data` (text or bytes) to `path` through a temporary file in the same folder and a rename, so that
 * readers see either the old file or the whole new one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { writeFileAtomic } from "./files.ts";
 * const path = `${await Deno.makeTempDir()}/metrics.json`;
 * await writeFileAtomic(path, JSON.stringify({ test_error: 0.07 }));
 * assertEquals(JSON.parse(await Deno.readTextFile(path)), { test_error: 0.07 });
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(temporary, data);
    else await Deno.writeFile(temporary, data);
    await Deno.rename(temporary, path);
  } catch (e) {
    await Deno.remove(temporary).catch(() => {});
    throw e;
  }
}
