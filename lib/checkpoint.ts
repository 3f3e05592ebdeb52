/**
 * Checkpoints: the whole state of a training run in one file, so that a run stopped anywhere
 * (Ctrl-C, a kill, a notebook's interrupt, a machine that sleeps) continues where it left off
 * and ends with exactly the numbers of a run that never stopped (same seed, same backend).
 *
 * `checkpoint.json`, in the folder given, holds:
 * - every variable of the network, exact float32 (lib/weights.ts): each layer's weight and bias,
 *   its optimiser's moments (Adam) or velocity (SGD), peer normalisation's running means, the
 *   softmax readout's weights and velocities;
 * - each optimiser's step count, on which Adam's bias correction depends;
 * - where training stands: the layer and the epochs it has finished (mini-batches train all
 *   layers at once and count as one);
 * - the losses so far, the seconds spent, the backend, and the recipe and a fingerprint of the
 *   data, which a run continuing it must match;
 * - `sha256`, the checksum of all the rest: a file changed after it was written (one character
 *   is enough) is refused in one line, as is one whose position cannot be (epoch 99 of 30).
 *   Checkpoints from before checksums (version 1) still continue, checked for sense only.
 *
 * No random generator's state is kept, because none lives from one epoch to the next: the
 * training images and the full-batch negatives are drawn from the recipe's seed, and every
 * mini-batch draw (order, negative labels, shifts, dropout, hard negatives) from
 * `deriveSeed(seed, epoch, ...)`. Checkpoints are taken between epochs, where the seed and the
 * epoch are the whole random state.
 *
 * A checkpoint is written at the end of each layer (mini-batches: at the end of training), at
 * most every `everyMinutes` in between, and when a stop is asked for; always through a temporary
 * name and a rename, so that a run killed while writing leaves the previous checkpoint whole.
 *
 * @module
 */
import {
  type EpochCallback,
  type EpochProgress,
  likelySetting,
  type Network,
  type Optimizer,
  tf,
  TrainingDiverged,
} from "./core/mod.ts";
import { type BlasInfo, blasInUse, describeBlas } from "./backends/mod.ts";
import type { Mnist } from "./data/mod.ts";
import type { Recipe } from "./recipe.ts";
import { sha256, verifiedJson, writeChecksummedJson } from "./files.ts";
import { deferredNetworkState, restoreVariables, type SavedNetwork } from "./weights.ts";

/** The checkpoint's file name inside its folder. */
export const CHECKPOINT_FILE = "checkpoint.json";
const FORMAT = "ff-notebooks/checkpoint";
/** 2: with its `sha256`, the checksum of the rest; 1: from before checksums, read unchecked. */
const VERSION = 2;
const UNCHECKED_VERSION = 1;
/** Most minutes between two checkpoints within a layer, unless told otherwise. */
export const DEFAULT_EVERY_MINUTES = 5;

/** Options of {@linkcode openCheckpoint}. */
export interface CheckpointOptions {
  /** The checkpoint's folder, made when missing. */
  dir: string;
  /** Most minutes between two checkpoints within a layer; 0: after every epoch. Default 5. */
  everyMinutes?: number;
  /** Stop training when a checkpoint cannot be written. Default: warn once and go on. */
  required?: boolean;
  /**
   * Once aborted, training stops after the epoch under way, writes a checkpoint and throws
   * {@linkcode TrainingInterrupted}.
   */
  signal?: AbortSignal;
  /** Hears what goes wrong without stopping training (a checkpoint not written). Default console.warn. */
  onWarning?: (message: string) => void;
  /** Anything the caller wants back when the run continues (the CLI: its dataset and data folder). */
  meta?: Record<string, unknown>;
}

/** Where training stands: epochs 1 to `epoch` of layer `layer` (0-based) and all before it. */
export type Position = Pick<EpochProgress, "layer" | "layers" | "epoch" | "epochs">;

/** A checkpoint as the file stores it. */
export interface SavedCheckpoint {
  format: typeof FORMAT;
  version: typeof VERSION | typeof UNCHECKED_VERSION;
  position: Position;
  /** Steps taken by each layer's optimiser, then by the readout's. */
  steps: number[];
  losses: number[][];
  trainSeconds: number;
  backend: string;
  /** On backend blas: the library, its kernels and its thread count (each changes the bits). */
  blas?: BlasInfo;
  recipe?: Recipe;
  data?: { source: string; fingerprint: string };
  meta: Record<string, unknown>;
  network: SavedNetwork;
}

/**
 * What does the arithmetic, as far as it changes the bits: the backend, and on blas its kernels
 * and its thread count (a product split over more threads rounds differently).
 */
function machinery(backend: string, blas: BlasInfo | undefined): string {
  return `backend ${backend}${blas ? ` (${describeBlas(blas)})` : ""}`;
}

/** "layer 2 epoch 37 of 1000", or for mini-batches (one "layer"), "epoch 3 of 60". */
export function describePosition(p: Position): string {
  return `${p.layers > 1 ? `layer ${p.layer + 1} ` : ""}epoch ${p.epoch} of ${p.epochs}`;
}

/**
 * Training stopped between two epochs because its signal was aborted. `saved` is where the
 * checkpoint in `dir` stands (undefined: none could be written); the same call with the same
 * checkpoint folder continues from there.
 */
export class TrainingInterrupted extends Error {
  constructor(
    /** The last epoch finished. */
    readonly position: Position,
    readonly saved: Position | undefined,
    readonly dir: string,
    /** Each layer's losses up to the stop. */
    readonly losses: number[][],
    readonly trainSeconds: number,
  ) {
    super(
      saved
        ? `training stopped after ${describePosition(position)}; the checkpoint in ${dir} ` +
          `continues it: train again with the same checkpoint folder`
        : `training stopped after ${describePosition(position)}, and no checkpoint could be ` +
          `written to ${dir}`,
    );
    this.name = "TrainingInterrupted";
  }
}

/**
 * The checkpoint in `dir`, or undefined when there is none; a one-line error naming the file when
 * it cannot be read, is damaged (its checksum), or says what cannot be.
 */
export async function readCheckpoint(dir: string): Promise<SavedCheckpoint | undefined> {
  const path = `${dir}/${CHECKPOINT_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`cannot read the checkpoint ${path}: ${firstLine(e)}`);
  }
  let parsed: SavedCheckpoint & { sha256?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw damaged(path, `it is not whole JSON (${firstLine(e)})`);
  }
  if (
    parsed?.format !== FORMAT ||
    (parsed.version !== VERSION && parsed.version !== UNCHECKED_VERSION)
  ) {
    throw new Error(
      `${path} is not an ff-notebooks checkpoint of version ${VERSION} (format ` +
        `${parsed?.format}, version ${parsed?.version}): damaged, or from another program`,
    );
  }
  const saved = await verifiedJson(parsed, path, parsed.version === VERSION);
  checkSense(saved, path);
  return saved;
}

function damaged(path: string, what: string): Error {
  return new Error(
    `${path} is damaged: ${what}; continue from another copy of it, or train again without it`,
  );
}

/** Fields a checksum cannot vouch for (a file from before checksums): each where it can be. */
function checkSense(saved: SavedCheckpoint, path: string): void {
  const whole = (n: unknown, least: number) => Number.isInteger(n) && (n as number) >= least;
  const p = saved.position;
  if (
    !whole(p?.layers, 1) || !whole(p.epochs, 1) || !whole(p.layer, 0) || !whole(p.epoch, 1) ||
    p.layer >= p.layers || p.epoch > p.epochs
  ) {
    throw damaged(path, `it says training stands at ${describePosition(p ?? {})}, which cannot be`);
  }
  if (!Array.isArray(saved.steps) || !saved.steps.every((n) => whole(n, 0))) {
    throw damaged(path, "its optimisers' step counts are not counts");
  }
  const numbers = (list: unknown) =>
    Array.isArray(list) && list.every((v) => typeof v === "number");
  if (!Array.isArray(saved.losses) || !saved.losses.every(numbers)) {
    throw damaged(path, "its losses are not lists of numbers");
  }
  if (!(saved.trainSeconds >= 0) || !Number.isFinite(saved.trainSeconds)) {
    throw damaged(path, `its training time (${saved.trainSeconds} s) cannot be`);
  }
  if (typeof saved.meta !== "object" || !Array.isArray(saved.network?.variables)) {
    throw damaged(path, "it lacks its network or its meta");
  }
}

/**
 * Where the checkpoint stands must be a place in this network's training: as many layers (or one,
 * for mini-batches), its recipe's epochs, and a loss for every epoch trained.
 */
function checkPosition(saved: SavedCheckpoint, net: Network, path: string): void {
  const p = saved.position;
  const miniBatches = saved.recipe ? saved.recipe.batchSize !== undefined : p.layers === 1;
  const layers = miniBatches ? 1 : net.layers.length;
  const epochs = saved.recipe?.epochs ?? (miniBatches ? p.epochs : net.layers[0].options.epochs);
  const lengths = net.layers.map((_, i) =>
    miniBatches || i === p.layer ? p.epoch : i < p.layer ? epochs : undefined
  );
  if (
    p.layers !== layers || p.epochs !== epochs || saved.losses.length !== net.layers.length ||
    lengths.some((n, i) => n !== undefined && saved.losses[i].length !== n)
  ) {
    throw damaged(
      path,
      `it says training stands at ${describePosition(p)}, which cannot be in a run of ` +
        `${epochs} epochs${miniBatches ? "" : ` per layer over ${layers} layers`} with its ` +
        `losses (${saved.losses.map((l) => l.length).join(", ")} of them)`,
    );
  }
}

/**
 * Prepares `net` for training with checkpoints in `options.dir` (or a folder given alone): if a
 * checkpoint is there, the network takes its state (after checking that it is of the same run:
 * same network, and same recipe and data where given), and `start` says where training goes on.
 * Without options, it only starts at the beginning.
 *
 * @example Full batch: a notebook cell stopped mid-run goes on from its last checkpoint when run again
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { combineXY, FFNN, negativeLabels, tf } from "./core/mod.ts";
 * import { openCheckpoint } from "./checkpoint.ts";
 * const x = tf.randomUniform([40, 6], 0, 1, "float32", 1) as tf.Tensor2D;
 * const y = Array.from({ length: 40 }, (_, i) => i % 10);
 * const net = new FFNN([16, 8, 8], { epochs: 20, seed: 1 });
 * const dir = await Deno.makeTempDir(); // in a notebook, e.g. "runs/notebook"
 * const checkpoint = await openCheckpoint(net, { dir, everyMinutes: 1 });
 * await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 })), {
 *   start: checkpoint.start,
 *   onEpoch: checkpoint.onEpoch(),
 * });
 * assertEquals(checkpoint.start, { layer: 0, epoch: 1 }); // a new run; run again, it would go on
 * // Mini-batches: net.trainMiniBatch(x, y, { ..., startEpoch: checkpoint.start.epoch, onEpoch })
 * ```
 */
export async function openCheckpoint(
  net: Network,
  options?: CheckpointOptions | string,
  run: { recipe?: Recipe; data?: Mnist } = {},
): Promise<Checkpointer> {
  if (options === undefined) return new Checkpointer(net);
  const resolved = typeof options === "string" ? { dir: options } : options;
  const { dir, everyMinutes = DEFAULT_EVERY_MINUTES } = resolved;
  if (!(everyMinutes >= 0) || !Number.isFinite(everyMinutes)) {
    throw new Error(`everyMinutes must be a number of minutes >= 0, got ${everyMinutes}`);
  }
  await removeLeftovers(dir);
  const data = run.data && { source: run.data.source, fingerprint: await fingerprint(run.data) };
  const saved = await readCheckpoint(dir);
  if (saved) {
    const path = `${dir}/${CHECKPOINT_FILE}`;
    checkSameRun(saved, net, run.recipe, data, path);
    checkPosition(saved, net, path);
    restoreVariables(net, saved.network.variables, path);
    const optimizers = optimizersOf(net);
    if (saved.steps?.length !== optimizers.length) {
      throw new Error(
        `${path} counts steps of ${saved.steps?.length} optimisers, not ` +
          `${optimizers.length}: the file is damaged`,
      );
    }
    optimizers.forEach((optimizer, i) => optimizer.steps = saved.steps[i]);
    net.layers.forEach((layer, i) => layer.losses = [...saved.losses[i]]);
    // A checkpoint from before threads were recorded has no `blas`: only its backend can differ.
    const blas = blasInUse();
    const [then, now] = [
      machinery(
        saved.backend,
        saved.blas ?? (saved.backend === tf.getBackend() ? blas : undefined),
      ),
      machinery(tf.getBackend(), blas),
    ];
    if (then !== now) {
      (resolved.onWarning ?? console.warn)(
        `${path} was written on ${then}, this run uses ${now}: its numbers can differ in the ` +
          `last bits from a run that never stopped`,
      );
    }
  }
  return new Checkpointer(net, { ...resolved, everyMinutes }, { recipe: run.recipe, data }, saved);
}

/**
 * Training's side of checkpoints (made by {@linkcode openCheckpoint}): where to start, and the
 * epoch callback that writes them.
 */
export class Checkpointer {
  /** Where training starts: `FFNN.train`'s `start`; `trainMiniBatch`'s `startEpoch` is its epoch. */
  readonly start: { layer: number; epoch: number };
  /** True when the checkpoint is from after the last epoch: nothing is left to train. */
  readonly done: boolean;
  /** The checkpoint training continues from, if any. */
  readonly resumed?: SavedCheckpoint;
  readonly #net: Network;
  readonly #options?: CheckpointOptions & { everyMinutes: number };
  readonly #run: Pick<SavedCheckpoint, "recipe" | "data">;
  #saved?: Position;
  #startedAt?: number;
  #lastWrite = 0;
  #warned = false;

  constructor(
    net: Network,
    options?: CheckpointOptions & { everyMinutes: number },
    run: Pick<SavedCheckpoint, "recipe" | "data"> = {},
    resumed?: SavedCheckpoint,
  ) {
    this.#net = net;
    this.#options = options;
    this.#run = run;
    this.resumed = resumed;
    this.#saved = resumed?.position;
    const p = resumed?.position;
    this.done = p !== undefined && p.layer === p.layers - 1 && p.epoch === p.epochs;
    this.start = p === undefined
      ? { layer: 0, epoch: 1 }
      : p.epoch === p.epochs && p.layer + 1 < p.layers
      ? { layer: p.layer + 1, epoch: 1 }
      : { layer: p.layer, epoch: p.epoch + 1 };
  }

  /** Seconds of training since this process started it; default: the wall clock since then. */
  clock?: () => number;

  /** Seconds spent writing checkpoints (and checking the weights first) in this process. */
  writeSeconds = 0;

  /** Seconds of training so far, those before the checkpoint included. */
  get trainSeconds(): number {
    const since = this.#startedAt === undefined ? 0 : performance.now() - this.#startedAt;
    return (this.resumed?.trainSeconds ?? 0) + (this.clock ? this.clock() : since / 1000);
  }

  /**
   * `callback` (awaited first), followed after each epoch by a checkpoint when one is due; pass
   * it to training as its `onEpoch`. Training's clock starts here.
   */
  onEpoch(callback?: EpochCallback): EpochCallback {
    this.#startedAt = this.#lastWrite = performance.now();
    const options = this.#options;
    if (!options) return callback ?? (() => {});
    return async (progress) => {
      await callback?.(progress);
      // A signal's listener runs only when the event loop turns, which training on the CPU
      // never lets it do by itself.
      if (options.signal) await new Promise((resolve) => setTimeout(resolve, 0));
      const stopping = options.signal?.aborted ?? false;
      if (
        stopping || progress.epoch === progress.epochs ||
        performance.now() - this.#lastWrite >= options.everyMinutes * 60_000
      ) {
        await this.#write(progress, options);
      }
      if (stopping) {
        throw new TrainingInterrupted(
          position(progress),
          this.#saved,
          options.dir,
          this.#net.losses.map((losses) => [...losses]),
          this.trainSeconds,
        );
      }
    };
  }

  async #write(progress: Position, options: CheckpointOptions): Promise<void> {
    const began = performance.now();
    try {
      await this.#writeNow(progress, options);
    } finally {
      this.writeSeconds += (performance.now() - began) / 1000;
    }
  }

  async #writeNow(progress: Position, options: CheckpointOptions): Promise<void> {
    await checkFinite(this.#net, progress);
    const path = `${options.dir}/${CHECKPOINT_FILE}`;
    const network = deferredNetworkState(this.#net);
    const state: SavedCheckpoint = {
      format: FORMAT,
      version: VERSION,
      position: position(progress),
      steps: optimizersOf(this.#net).map((optimizer) => optimizer.steps),
      losses: this.#net.losses,
      trainSeconds: this.trainSeconds,
      backend: tf.getBackend(),
      blas: blasInUse(), // JSON leaves it out when undefined
      ...this.#run,
      meta: options.meta ?? {},
      network: network.state,
    };
    this.#lastWrite = performance.now();
    try {
      await Deno.mkdir(options.dir, { recursive: true });
      await writeChecksummedJson(path, { ...state }, network.later);
      this.#saved = state.position;
    } catch (e) {
      if (options.required) {
        throw new Error(
          `cannot write the checkpoint ${path}: ${firstLine(e)}: free disk space, or ` +
            `checkpoint to a writable folder`,
        );
      }
      if (this.#warned) return;
      this.#warned = true;
      (options.onWarning ?? console.warn)(
        `cannot write the checkpoint ${path} (${firstLine(e)}); training goes on without it`,
      );
    }
  }
}

function position({ layer, layers, epoch, epochs }: Position): Position {
  return { layer, layers, epoch, epochs };
}

function optimizersOf(net: Network): Optimizer[] {
  return [
    ...net.layers.map((layer) => layer.optimizer),
    ...(net.readout ? [net.readout.optimizer] : []),
  ];
}

/**
 * A weight (or optimiser state) that is no longer a finite number would be saved over the last
 * good checkpoint: stop, naming the layer, the epoch and the setting to change.
 */
async function checkFinite(net: Network, p: Position): Promise<void> {
  const variables = net.variables;
  // 0·x sums to 0 exactly when every x is finite (0·∞ and 0·NaN are NaN). One variable at a
  // time: all at once would hold a copy of every weight (45 MB for `hinton`) at the run's peak.
  let bad = -1;
  for (const [i, v] of variables.entries()) {
    const sum = tf.tidy(() => tf.sum(tf.mul(v, 0)));
    const value = (await sum.data())[0];
    sum.dispose();
    if (value !== 0) {
      bad = i;
      break;
    }
  }
  if (bad < 0) return;
  const value = (await variables[bad].data()).find((v) => !Number.isFinite(v));
  for (const [i, layer] of net.layers.entries()) {
    if (bad < layer.variables.length) {
      const setting = likelySetting(layer.options, layer.outFeatures);
      const error = new TrainingDiverged(i, p.epoch, value!, setting);
      error.message = `weights became ${value} at layer ${i + 1} epoch ${p.epoch}: lower ` +
        `${setting.name} (now ${setting.value})`;
      throw error;
    }
    bad -= layer.variables.length;
  }
  const setting = likelySetting({ ...net.readout!.options, optimizer: "sgd" }, 0, "readout.");
  throw new TrainingDiverged("readout", p.epoch, value!, setting);
}

/** The first setting in which the checkpoint's run differs from this one: a one-line error. */
function checkSameRun(
  saved: SavedCheckpoint,
  net: Network,
  recipe: Recipe | undefined,
  data: SavedCheckpoint["data"],
  path: string,
): void {
  const other = (what: string) => {
    throw new Error(
      `${path} is from another run: ${what}; train with the same settings to continue it, or ` +
        `give another checkpoint folder`,
    );
  };
  if (recipe && saved.recipe) {
    const field = differingField(saved.recipe, recipe, ["description"]);
    if (field) {
      other(`${field} is ${json(saved.recipe, field)} there, ${json(recipe, field)} here`);
    }
  }
  const [dims, options] = [saved.network?.dims, saved.network?.options ?? {}];
  if (JSON.stringify(dims) !== JSON.stringify(net.dims)) {
    other(`its network is ${JSON.stringify(dims)}, this one ${JSON.stringify(net.dims)}`);
  }
  const field = differingField(options, net.options);
  if (field) other(`${field} is ${json(options, field)} there, ${json(net.options, field)} here`);
  if (data && saved.data && data.fingerprint !== saved.data.fingerprint) {
    other(`it was trained on other data (${saved.data.source}) than ${data.source}`);
  }
}

function differingField(a: object, b: object, ignore: string[] = []): string | undefined {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].find((key) => !ignore.includes(key) && json(a, key) !== json(b, key));
}

function json(object: object, key: string): string {
  return JSON.stringify((object as Record<string, unknown>)[key]) ?? "unset";
}

/**
 * SHA-256 of the labels and of every 1009th pixel, of the training and test images: a different
 * data set (or the small fallback subset) does not continue a run trained on another.
 */
async function fingerprint({ train, test }: Mnist): Promise<string> {
  const every = (images: Float32Array) =>
    Float32Array.from({ length: Math.ceil(images.length / 1009) }, (_, i) => images[i * 1009]);
  const parts = [train.labels, test.labels, every(train.images), every(test.images)];
  const bytes = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), offset);
    offset += part.byteLength;
  }
  return await sha256(bytes);
}

/**
 * Temporary files that a run killed while writing left behind (lib/files.ts names them
 * NAME.tmp-XXXXXXXX): never a half-written file in the folder.
 */
async function removeLeftovers(dir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && /\.tmp-[0-9a-f]{8}$/.test(entry.name)) {
        await Deno.remove(`${dir}/${entry.name}`);
      }
    }
  } catch {
    // No folder yet, or one that cannot be read: reading the checkpoint says what is wrong.
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}
