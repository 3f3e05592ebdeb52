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
  return new TextDecoder().decode(await checksummedJsonBytes(value));
}

/**
 * {@linkcode checksummedJson} as UTF-8, ready to write. A checkpoint's text is 30 MB: it is
 * made and encoded once, and hashed in place, so that no other copy of it raises the run's peak
 * memory.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checksummedJsonBytes, sha256 } from "./files.ts";
 * const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
 * const value = { epoch: 3, θ: "²" }, json = JSON.stringify(value);
 * assertEquals(text(await checksummedJsonBytes(value)), `${json.slice(0, -1)},"sha256":"${await sha256(json)}"}`);
 * assertEquals(text(await checksummedJsonBytes({})), `{"sha256":"${await sha256("{}")}"}`);
 * ```
 */
export async function checksummedJsonBytes(
  value: Record<string, unknown>,
): Promise<Uint8Array<ArrayBuffer>> {
  if ("sha256" in value) throw new Error("a checksummed value has no sha256 field of its own");
  const bytes = new TextEncoder().encode(JSON.stringify({ ...value, sha256: "0".repeat(64) }));
  // The text of `value` alone is these bytes up to the sha256 field, closed by a "}": put it
  // there for the hash, then put back what it replaced.
  const field = bytes.length - '"sha256":"'.length - 64 - '"}'.length;
  const cut = bytes[field - 1] === ",".charCodeAt(0) ? field - 1 : field;
  const replaced = bytes[cut];
  bytes[cut] = "}".charCodeAt(0);
  const hash = await sha256(bytes.subarray(0, cut + 1));
  bytes[cut] = replaced;
  new TextEncoder().encodeInto(hash, bytes.subarray(bytes.length - 64 - 2));
  return bytes;
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
