/**
 * The weights file: a network's shape, options and parameters. `saveNetwork` picks the form by
 * the file's name, `loadNetwork` by its first bytes:
 *
 * - **`weights.ffw`** (any name not ending in `.json`): binary, about the parameters' float32 bytes
 *   and a small header. It holds what predicts (each layer's weight and bias, the softmax readout's
 *   weights), not the optimisers' state, which only training needs and checkpoints keep. Layout:
 *   the 8 bytes `FFWEIGHT`; the header's length (uint32, little-endian); the header, JSON (format
 *   version, dtype, dims, options, each tensor's name and shape, and where given the recipe, with
 *   its pixel scaling, the dataset and the commit), padded with spaces to a multiple of 8 bytes;
 *   the tensors' values in order, little-endian float32 (exact) or float16 (`precision:
 *   "float16"`, half the size); and last, 64 hex digits: the SHA-256 of every byte before them.
 * - **`weights.json`**: JSON text with every variable (training state too) as base64 float32, and a
 *   `sha256` field: the checksum of the rest. Files from before checksums (version 2) still load.
 *
 * Either is written through a temporary name and a rename, so an existing file is never
 * half-replaced; any damage after (a changed byte, a cut) stops loading with one line naming the
 * file and what is wrong.
 *
 * @module
 */
import {
  FFNN,
  type FFNNOptions,
  type Network,
  RecurrentFF,
  type RecurrentOptions,
  tf,
} from "./core/mod.ts";
import { peekValues } from "./backends/mod.ts";
import { sha256, verifiedJson, writeChecksummedJson, writeFileAtomic } from "./files.ts";
import type { Recipe } from "./recipe.ts";

const FORMAT = "ff-notebooks/ffnn";
/** 3: with its `sha256`; 2: from before checksums, read unchecked. */
const VERSION = 3;
const UNCHECKED_VERSION = 2;

const MAGIC = "FFWEIGHT";
const BINARY_FORMAT = "ff-notebooks/weights";
const BINARY_VERSION = 1;
/** Bytes before the header: the magic and the header's length. */
const PREFIX = 12;
/** The SHA-256 at the end, in hex. */
const CHECKSUM = 64;

/** One tensor as the JSON file stores it. */
export interface SavedTensor {
  shape: number[];
  dtype: "float32";
  /** Little-endian float32 bytes, base64. */
  data: string;
}

/** A network as the JSON file (and a checkpoint) stores it. */
export interface SavedNetwork {
  format: typeof FORMAT;
  version: typeof VERSION | typeof UNCHECKED_VERSION;
  dims: number[];
  options: Omit<FFNNOptions, "layers"> | RecurrentOptions;
  /** net.variables, in order: each layer's parameters and training state, then the readout's. */
  variables: SavedTensor[];
}

/** What made a network, kept in a binary weights file's header. */
export interface WeightsAbout {
  /** The recipe it was trained by (its `pixels` says how to scale images for it). */
  recipe?: Recipe;
  /** The dataset it was trained on, e.g. "mnist". */
  dataset?: string;
  /** The commit of the code that trained it. */
  commit?: string;
}

/** The header of a binary weights file (see {@linkcode readWeightsHeader}). */
export interface WeightsHeader extends WeightsAbout {
  format: typeof BINARY_FORMAT;
  version: typeof BINARY_VERSION;
  /** How the values are stored: float32 exactly, or rounded to float16. */
  dtype: "float32" | "float16";
  dims: number[];
  options: Omit<FFNNOptions, "layers"> | RecurrentOptions;
  /** Each stored tensor, in order: "layer1.weight", "layer1.bias", ..., "readout.weight1", ... */
  tensors: { name: string; shape: number[] }[];
}

/** Options of {@linkcode saveNetwork}. */
export interface SaveOptions extends WeightsAbout {
  /**
   * Binary files only: `"float16"` halves the file, rounding each value to float16 (about 3
   * significant digits; for sharing a trained network, not for continuing its training).
   * Default `"float32"`: every bit kept.
   */
  precision?: "float32" | "float16";
}

/** V8's own base64 for bytes (Deno 2.5 and later): no string of char codes on the way. */
const NATIVE_BASE64 = typeof (Uint8Array as { fromBase64?: unknown }).fromBase64 === "function";

/**
 * Bytes as base64, the form JSON can hold: by the runtime where it can (15 times faster here,
 * which is most of a checkpoint's time), else through `btoa`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeBase64, encodeBase64 } from "./weights.ts";
 * assertEquals(decodeBase64(encodeBase64(new Uint8Array([1, 2, 255]))), new Uint8Array([1, 2, 255]));
 * assertEquals(encodeBase64(new Uint8Array([1, 2, 255])), "AQL/");
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  if (NATIVE_BASE64) return (bytes as Uint8Array & { toBase64(): string }).toBase64();
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The bytes of a base64 string; see {@linkcode encodeBase64}. Throws on anything else. */
export function decodeBase64(text: string): Uint8Array {
  if (NATIVE_BASE64) {
    if (typeof text !== "string") throw new TypeError("base64 must be a string");
    return (Uint8Array as unknown as { fromBase64(text: string): Uint8Array }).fromBase64(text);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A tensor's exact float32 values, for JSON. */
export async function encodeTensor(t: tf.Tensor): Promise<SavedTensor> {
  return {
    shape: t.shape,
    dtype: "float32",
    data: (await Array.fromAsync(tensorBase64(t))).join(""),
  };
}

/**
 * A float32 tensor's bytes as base64, in pieces of 256 KiB: a 2000 × 2000 weight's text whole
 * would be 21 MB of string at a checkpoint, pieces are collected young. Each piece encodes a
 * multiple of 3 bytes, so that the pieces joined are the base64 of the whole.
 */
async function* tensorBase64(t: tf.Tensor): AsyncGenerator<string> {
  const values = await peekValues(t);
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const piece = 3 * 65536;
  for (let at = 0; at < bytes.length; at += piece) {
    yield encodeBase64(bytes.subarray(at, at + piece));
  }
}

/** The values of a saved tensor, checked against the shape it must have. */
export function decodeTensor(saved: SavedTensor, shape: number[], source: string): Float32Array {
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(saved?.data);
  } catch {
    throw new Error(`${source} is damaged: a tensor's data is not base64`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (!tf.util.arraysEqual(saved?.shape ?? [], shape) || bytes.length !== count * 4) {
    throw new Error(
      `${source}: a tensor of shape ${JSON.stringify(saved?.shape)} (${bytes.length} bytes) ` +
        `does not fit ${JSON.stringify(shape)}; the file is damaged or from another network`,
    );
  }
  return new Float32Array(bytes.buffer, bytes.byteOffset, count);
}

/**
 * {@linkcode networkState} with each tensor's data a placeholder, and the functions that make
 * them, for {@linkcode writeChecksummedJson}: one tensor's text in memory at a time.
 */
export function deferredNetworkState(
  net: Network,
): { state: SavedNetwork; later: Map<string, () => AsyncIterable<string>> } {
  const later = new Map<string, () => AsyncIterable<string>>();
  const tag = crypto.randomUUID();
  const variables = net.variables.map((variable, i) => {
    const data = `<${tag} tensor ${i}>`;
    later.set(data, () => tensorBase64(variable));
    return { shape: variable.shape, dtype: "float32" as const, data };
  });
  return {
    state: { format: FORMAT, version: VERSION, dims: net.dims, options: net.options, variables },
    later,
  };
}

/** The network as the JSON file and checkpoints store it (see {@linkcode saveNetwork}). */
export async function networkState(net: Network): Promise<SavedNetwork> {
  return {
    format: FORMAT,
    version: VERSION,
    dims: net.dims,
    options: net.options,
    variables: await Promise.all(net.variables.map(encodeTensor)),
  };
}

/** Sets every variable of `net` to the values of `saved`, checking each shape. */
export function restoreVariables(net: Network, saved: SavedTensor[], source: string): void {
  const variables = net.variables;
  if (!Array.isArray(saved) || saved.length !== variables.length) {
    throw new Error(
      `${source} holds ${Array.isArray(saved) ? saved.length : "no list of"} tensors, this ` +
        `network has ${variables.length}: the file is damaged or from another network`,
    );
  }
  variables.forEach((variable, i) =>
    tf.tidy(() =>
      variable.assign(tf.tensor(decodeTensor(saved[i], variable.shape, source), variable.shape))
    )
  );
}

/** A network from its stored form (see {@linkcode networkState}), its checksum checked first. */
export async function networkFromState(
  saved: SavedNetwork & { sha256?: unknown },
  source: string,
): Promise<Network> {
  if (
    saved?.format !== FORMAT || (saved.version !== VERSION && saved.version !== UNCHECKED_VERSION)
  ) {
    throw new Error(
      `${source} is not an ff-notebooks weights file of version ${VERSION} ` +
        `(format ${saved?.format}, version ${saved?.version}): damaged, or from another program`,
    );
  }
  const checked = await verifiedJson(saved, source, saved.version === VERSION);
  return withNetwork(
    checked.dims,
    checked.options,
    source,
    (net) => restoreVariables(net, checked.variables, source),
  );
}

/**
 * Writes the network to `path`: binary (`.ffw`, or any name but `.json`), or JSON text
 * (`.json`). See the module's doc for what each holds.
 *
 * @example Saved and loaded: the same weights, bit for bit
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FFNN } from "./core/mod.ts";
 * import { loadNetwork, saveNetwork } from "./weights.ts";
 * const net = new FFNN([14, 8], { seed: 1 });
 * const path = `${await Deno.makeTempDir()}/weights.ffw`;
 * await saveNetwork(net, path, { dataset: "mnist" });
 * const again = await loadNetwork(path);
 * assertEquals(again.layers[0].weight.dataSync(), net.layers[0].weight.dataSync());
 * ```
 */
export async function saveNetwork(
  net: Network,
  path: string,
  options: SaveOptions = {},
): Promise<void> {
  const { precision = "float32", ...about } = options;
  if (precision !== "float32" && precision !== "float16") {
    throw new Error(`precision must be "float32" or "float16", got ${JSON.stringify(precision)}`);
  }
  if (path.endsWith(".json")) {
    if (precision !== "float32" || Object.values(about).some((v) => v !== undefined)) {
      throw new Error(
        `${path}: a .json weights file keeps float32 values and no recipe, dataset or commit; ` +
          `name the file .ffw for precision, recipe, dataset and commit`,
      );
    }
    const { state, later } = deferredNetworkState(net);
    await writeChecksummedJson(path, { ...state }, later);
    return;
  }
  await writeFileAtomic(path, await binaryWeights(net, precision, about));
}

/**
 * Reads a network written by {@linkcode saveNetwork}, either form (and JSON files from before
 * checksums).
 *
 * @example A notebook loads a committed network
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FFNN } from "./core/mod.ts";
 * import { loadNetwork, saveNetwork } from "./weights.ts";
 * const path = `${await Deno.makeTempDir()}/weights.ffw`;
 * await saveNetwork(new FFNN([14, 8, 8], { seed: 1 }), path, { precision: "float16" });
 * const net = await loadNetwork(path); // e.g. loadNetwork("runs/post/weights.ffw")
 * assertEquals(net.dims, [14, 8, 8]);
 * ```
 */
export async function loadNetwork(path: string): Promise<Network> {
  const bytes = await readWeightsFile(path);
  if (!isBinary(bytes)) return networkFromState(parseJson(bytes, path), path);
  const { header, values } = await parseBinary(bytes, path);
  return withNetwork(header.dims, header.options, path, (net) => {
    const parameters = parametersOf(net);
    const [have, want] = [header.tensors, parameters].map((list) =>
      JSON.stringify(list.map(({ name, shape }) => ({ name, shape })))
    );
    if (have !== want) {
      throw new Error(
        `${path} is damaged: its tensors do not fit its network ${JSON.stringify(header.dims)}`,
      );
    }
    parameters.forEach(({ variable }, i) =>
      tf.tidy(() => variable.assign(tf.tensor(values[i], variable.shape)))
    );
  });
}

/**
 * The header of a binary weights file (its checksum checked): the network's shape and options,
 * how its values are stored, and what made it (recipe, dataset, commit) where saved.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FFNN } from "./core/mod.ts";
 * import { readWeightsHeader, saveNetwork } from "./weights.ts";
 * const path = `${await Deno.makeTempDir()}/weights.ffw`;
 * await saveNetwork(new FFNN([14, 8], { seed: 1 }), path, { dataset: "fashion-mnist" });
 * assertEquals((await readWeightsHeader(path)).dataset, "fashion-mnist");
 * ```
 */
export async function readWeightsHeader(path: string): Promise<WeightsHeader> {
  const bytes = await readWeightsFile(path);
  if (!isBinary(bytes)) {
    throw new Error(`${path} is not a binary weights file (.ffw): it has no header to read`);
  }
  return (await parseBinary(bytes, path)).header;
}

/** Each parameter that predicts, named as the binary file's header names it. */
function parametersOf(net: Network): { name: string; shape: number[]; variable: tf.Variable }[] {
  const named = (name: string, variable: tf.Variable) => ({
    name,
    shape: variable.shape,
    variable,
  });
  return [
    ...net.layers.flatMap((layer, i) => [
      named(`layer${i + 1}.weight`, layer.weight),
      named(`layer${i + 1}.bias`, layer.bias),
    ]),
    ...(net.readout?.weights ?? []).map((w, i) => named(`readout.weight${i + 1}`, w)),
  ];
}

async function binaryWeights(
  net: Network,
  precision: "float32" | "float16",
  about: WeightsAbout,
): Promise<Uint8Array> {
  const parameters = parametersOf(net);
  const header: WeightsHeader = {
    format: BINARY_FORMAT,
    version: BINARY_VERSION,
    dtype: precision,
    dims: net.dims,
    options: net.options,
    tensors: parameters.map(({ name, shape }) => ({ name, shape })),
    ...about,
  };
  const text = new TextEncoder().encode(JSON.stringify(header));
  // The values start at a multiple of 8 bytes, so that reading views them without a copy.
  const start = Math.ceil((PREFIX + text.length) / 8) * 8;
  const arrays = await Promise.all(parameters.map(async ({ name, variable }) => {
    const values = await peekValues(variable);
    return precision === "float32" ? values : toFloat16(values, name);
  }));
  const end = arrays.reduce((offset, a) => offset + a.byteLength, start);
  const bytes = new Uint8Array(end + CHECKSUM).fill(0x20, PREFIX + text.length, start);
  bytes.set(new TextEncoder().encode(MAGIC));
  new DataView(bytes.buffer).setUint32(8, start - PREFIX, true);
  bytes.set(text, PREFIX);
  let offset = start;
  // Typed arrays are in the machine's byte order: little-endian on every platform Deno runs on.
  for (const a of arrays) {
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    offset += a.byteLength;
  }
  bytes.set(new TextEncoder().encode(await sha256(bytes.subarray(0, end))), end);
  return bytes;
}

/**
 * Float16Array is built into the Deno this project uses (2.9.6), so nothing is converted by hand;
 * an older Deno running a copied lib/ gets this line instead of a ReferenceError.
 */
function checkFloat16(what: string): void {
  if (typeof Float16Array === "undefined") {
    throw new Error(
      `${what} float16 values needs a Deno with Float16Array (this is Deno ` +
        `${Deno.version.deno}): upgrade Deno, or save with precision "float32"`,
    );
  }
}

function toFloat16(values: Float32Array, name: string): Float16Array {
  checkFloat16("writing");
  const half = Float16Array.from(values);
  const lost = half.findIndex((h, i) => !Number.isFinite(h) && Number.isFinite(values[i]));
  if (lost >= 0) {
    throw new Error(
      `precision "float16" cannot hold ${name}'s value ${values[lost]} (float16 ends at ` +
        `±65504): save with precision "float32"`,
    );
  }
  return half;
}

async function parseBinary(
  bytes: Uint8Array,
  path: string,
): Promise<{ header: WeightsHeader; values: Float32Array[] }> {
  const damaged = (what: string) =>
    new Error(`${path} is damaged: ${what}; use another copy, or save the network again`);
  if (bytes.length < PREFIX + CHECKSUM) throw damaged(`it is only ${bytes.length} bytes long`);
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const start = PREFIX + length;
  if (start + CHECKSUM > bytes.length) {
    throw damaged(`its header's length (${length} bytes) runs past its end (cut short?)`);
  }
  let header: WeightsHeader;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(PREFIX, start)),
    );
  } catch {
    throw damaged("its header is not valid JSON");
  }
  if (header?.format !== BINARY_FORMAT || header.version !== BINARY_VERSION) {
    throw new Error(
      `${path} is not an ff-notebooks weights file of version ${BINARY_VERSION} (format ` +
        `${header?.format}, version ${header?.version}): damaged, or from another program`,
    );
  }
  const size = header.dtype === "float32" ? 4 : header.dtype === "float16" ? 2 : NaN;
  const counts = Array.isArray(header.tensors)
    ? header.tensors.map((t) =>
      Array.isArray(t?.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0)
        ? t.shape.reduce((a, b) => a * b, 1)
        : NaN
    )
    : [NaN];
  const end = counts.reduce((offset, count) => offset + count * size, start);
  if (!Number.isInteger(end)) throw damaged("its header does not describe its tensors");
  if (end + CHECKSUM !== bytes.length) {
    throw damaged(
      `it is ${bytes.length} bytes, its header describes ${end + CHECKSUM}` +
        (bytes.length < end + CHECKSUM ? " (cut short?)" : ""),
    );
  }
  const saved = new TextDecoder().decode(bytes.subarray(end));
  if (saved !== await sha256(bytes.subarray(0, end))) {
    throw damaged("its contents do not match its checksum (changed after it was written)");
  }
  if (header.dtype === "float16") checkFloat16(`${path} holds float16 values: reading`);
  // A file read whole starts its own buffer; the values' offset is a multiple of 8 by design.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  let offset = aligned.byteOffset + start;
  const values = counts.map((count) => {
    const view = header.dtype === "float32"
      ? new Float32Array(aligned.buffer, offset, count)
      : Float32Array.from(new Float16Array(aligned.buffer, offset, count));
    offset += count * size;
    return view;
  });
  return { header, values };
}

async function readWeightsFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new Error(`cannot read weights from ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}

function isBinary(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) === MAGIC;
}

function parseJson(bytes: Uint8Array, path: string): SavedNetwork {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(
      `cannot read weights from ${path}: it is neither a binary weights file nor whole JSON ` +
        `(${(e as Error).message.split("\n")[0]}); the file is damaged or cut short`,
    );
  }
}

/** A network of these dims and options, given to `fill`, disposed if anything throws. */
function withNetwork(
  dims: number[],
  options: Omit<FFNNOptions, "layers"> | RecurrentOptions,
  source: string,
  fill: (net: Network) => void,
): Network {
  let net: Network;
  try {
    // A recurrent network keeps its step settings among its options; an FFNN has none.
    net = "iterations" in options
      ? new RecurrentFF(dims, options as RecurrentOptions)
      : new FFNN(dims, options as Omit<FFNNOptions, "layers">);
  } catch (e) {
    throw new Error(`${source} describes a network that cannot be built: ${(e as Error).message}`);
  }
  try {
    fill(net);
    return net;
  } catch (e) {
    net.dispose();
    throw e;
  }
}
