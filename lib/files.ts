/**
 * Files that are whole or not there, and that say when they have been damaged since: written
 * through a temporary name and a rename, and (checkpoints, weights) carrying a SHA-256 of their
 * contents that reading checks.
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

/** The SHA-256 of text (as UTF-8) or bytes, in hex. */
export async function sha256(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * `value` as JSON text with a `sha256` field added last: the SHA-256 of the text of `value`
 * alone, which {@linkcode verifiedJson} checks.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checksummedJson, verifiedJson } from "./files.ts";
 * const text = await checksummedJson({ epoch: 3 });
 * assertEquals(await verifiedJson(JSON.parse(text), "run.json"), { epoch: 3 });
 * ```
 */
export async function checksummedJson(value: Record<string, unknown>): Promise<string> {
  const text = JSON.stringify(value);
  return `${text.slice(0, -1)}${text === "{}" ? "" : ","}"sha256":"${await sha256(text)}"}`;
}

/**
 * `parsed` without its `sha256` field, after checking that field against the rest: one line
 * naming `source` when they differ, or when the field is missing and `required`. The text is
 * compared as JSON.stringify writes it, so spacing does not count, every character of a key or a
 * value does.
 */
export async function verifiedJson<T extends object>(
  parsed: T & { sha256?: unknown },
  source: string,
  required = true,
): Promise<Omit<T, "sha256">> {
  const { sha256: saved, ...rest } = parsed;
  if (saved === undefined && !required) return rest;
  if (typeof saved !== "string") {
    throw new Error(`${source} is damaged: its checksum (sha256) is missing`);
  }
  if (saved !== await sha256(JSON.stringify(rest))) {
    throw new Error(
      `${source} is damaged: its contents do not match its checksum (changed or cut after it ` +
        `was written); use another copy, or train again`,
    );
  }
  return rest;
}
