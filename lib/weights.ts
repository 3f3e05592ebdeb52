/**
 * The weights file: a network's shape, options and every parameter, as JSON with float32 values
 * in base64. `saveNetwork` writes through a temporary name and a rename, so an existing file is
 * never half-replaced.
 *
 * @module
 */
import { FFNN, type FFNNOptions, tf } from "./core/mod.ts";
import { writeFileAtomic } from "./files.ts";

const FORMAT = "ff-notebooks/ffnn";
const VERSION = 2;

/** One tensor as the file stores it. */
export interface SavedTensor {
  shape: number[];
  dtype: "float32";
  /** Little-endian float32 bytes, base64. */
  data: string;
}

/** A network as the file stores it. */
export interface SavedNetwork {
  format: typeof FORMAT;
  version: typeof VERSION;
  dims: number[];
  options: Omit<FFNNOptions, "layers">;
  /** net.variables, in order: each layer's parameters and training state, then the readout's. */
  variables: SavedTensor[];
}

/**
 * Bytes as base64, the form JSON can hold. (Deno has no built-in for bytes outside JSR's std,
 * which our machines cannot reach.)
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeBase64, encodeBase64 } from "./weights.ts";
 * assertEquals(decodeBase64(encodeBase64(new Uint8Array([1, 2, 255]))), new Uint8Array([1, 2, 255]));
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The bytes of a base64 string; see {@linkcode encodeBase64}. */
export function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A tensor's exact float32 values, for JSON. */
export async function encodeTensor(t: tf.Tensor): Promise<SavedTensor> {
  const values = new Float32Array(await t.data());
  return { shape: t.shape, dtype: "float32", data: encodeBase64(new Uint8Array(values.buffer)) };
}

/** The values of a saved tensor, checked against the shape it must have. */
export function decodeTensor(saved: SavedTensor, shape: number[], source: string): Float32Array {
  const bytes = decodeBase64(saved?.data ?? "");
  const count = shape.reduce((a, b) => a * b, 1);
  if (!tf.util.arraysEqual(saved?.shape ?? [], shape) || bytes.length !== count * 4) {
    throw new Error(
      `${source}: a tensor of shape ${JSON.stringify(saved?.shape)} (${bytes.length} bytes) ` +
        `does not fit ${JSON.stringify(shape)}; the file is damaged or from another network`,
    );
  }
  return new Float32Array(bytes.buffer, bytes.byteOffset, count);
}

/** The network as the file stores it (see {@linkcode saveNetwork}). */
export async function networkState(net: FFNN): Promise<SavedNetwork> {
  return {
    format: FORMAT,
    version: VERSION,
    dims: net.dims,
    options: net.options,
    variables: await Promise.all(net.variables.map(encodeTensor)),
  };
}

/** Sets every variable of `net` to the values of `saved`, checking each shape. */
export function restoreVariables(net: FFNN, saved: SavedTensor[], source: string): void {
  const variables = net.variables;
  if (saved.length !== variables.length) {
    throw new Error(
      `${source} holds ${saved.length} tensors, this network has ${variables.length}: ` +
        `the file is from another network`,
    );
  }
  variables.forEach((variable, i) =>
    tf.tidy(() =>
      variable.assign(tf.tensor(decodeTensor(saved[i], variable.shape, source), variable.shape))
    )
  );
}

/** A network from its stored form (see {@linkcode networkState}). */
export function networkFromState(saved: SavedNetwork, source: string): FFNN {
  if (saved?.format !== FORMAT || saved.version !== VERSION) {
    throw new Error(
      `${source} is not an ff-notebooks weights file of version ${VERSION} ` +
        `(format ${saved?.format}, version ${saved?.version})`,
    );
  }
  const net = new FFNN(saved.dims, saved.options);
  try {
    restoreVariables(net, saved.variables, source);
    return net;
  } catch (e) {
    net.dispose();
    throw e;
  }
}

/**
 * Writes the network (shape, options, every parameter and training state) to a JSON file.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FFNN } from "./core/mod.ts";
 * import { loadNetwork, saveNetwork } from "./weights.ts";
 * const net = new FFNN([14, 8], { seed: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await saveNetwork(net, path);
 * const again = await loadNetwork(path);
 * assertEquals(again.layers[0].weight.dataSync(), net.layers[0].weight.dataSync());
 * ```
 */
export async function saveNetwork(net: FFNN, path: string): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(await networkState(net)));
}

/** Reads a network written by {@linkcode saveNetwork}. */
export async function loadNetwork(path: string): Promise<FFNN> {
  let saved: SavedNetwork;
  try {
    saved = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`cannot read weights from ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  return networkFromState(saved, path);
}
