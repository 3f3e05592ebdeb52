/**
 * Files that are whole or not there, and that say when they have been damaged since: written
 * through a temporary name and a rename, and (checkpoints, weights) carrying a SHA-256 of their
 * contents that reading checks.
 *
 * @module
 */
import { createHash } from "node:crypto";

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
 * Writes `value` to `path` as {@linkcode checksummedJsonBytes} would, through a temporary name
 * and a rename, without ever holding its whole text: each string in `value` that is a key of
 * `later` is written as the pieces its function gives, made only when the writing reaches them,
 * and hashed as it goes. Why: a checkpoint is 30 MB of base64, and its text made at once raised a
 * run's peak memory by 180 MB; written in pieces, it raises it by a few.
 *
 * @example The same bytes as checksummedJsonBytes of the value with the strings in place
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checksummedJsonBytes, writeChecksummedJson } from "./files.ts";
 * const path = `${await Deno.makeTempDir()}/state.json`;
 * const later = new Map([["<tensor 1>", () => ["AQ", "L/"].values()]]);
 * await writeChecksummedJson(path, { epoch: 3, data: "<tensor 1>" }, later);
 * assertEquals(await Deno.readFile(path), await checksummedJsonBytes({ epoch: 3, data: "AQL/" }));
 * ```
 */
export async function writeChecksummedJson(
  path: string,
  value: Record<string, unknown>,
  later: ReadonlyMap<string, () => Iterable<string> | AsyncIterable<string>> = new Map(),
): Promise<void> {
  if ("sha256" in value) throw new Error("a checksummed value has no sha256 field of its own");
  const text = JSON.stringify(value);
  const keys = [...later.keys()].map((key) => JSON.stringify(key));
  const pattern = keys.length
    ? new RegExp(keys.map((key) => key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g")
    : undefined;
  const hash = createHash("sha256");
  const encoder = new TextEncoder();
  const temporary = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
  try {
    // One buffer for every piece: a new array for each tensor's text would be garbage that
    // lingers until the next collection, at the run's peak.
    let buffer = new Uint8Array(0);
    const write = async (piece: string, hashed = true) => {
      if (buffer.length < 3 * piece.length) buffer = new Uint8Array(3 * piece.length);
      const bytes = buffer.subarray(0, encoder.encodeInto(piece, buffer).written);
      if (hashed) hash.update(bytes);
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    };
    // The text without its closing brace: the checksum field goes before it.
    const open = text.slice(0, -1);
    let at = 0;
    for (const match of pattern ? open.matchAll(pattern) : []) {
      await write(open.slice(at, match.index));
      await write('"');
      for await (const piece of later.get(JSON.parse(match[0]))!()) {
        await write(JSON.stringify(piece).slice(1, -1));
      }
      await write('"');
      at = match.index + match[0].length;
    }
    await write(open.slice(at));
    hash.update("}");
    await write(`${text === "{}" ? "" : ","}"sha256":"${hash.digest("hex")}"}`, false);
    file.close();
    await Deno.rename(temporary, path);
  } catch (e) {
    try {
      file.close();
    } catch { /* closed already */ }
    await Deno.remove(temporary).catch(() => {});
    throw e;
  }
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
