/**
 * tfjs's cpu backend whose large float32 outputs come from a pool of recycled buffers.
 *
 * Why: on virtual machines the first write to fresh memory costs a page fault per 4 KiB (here
 * ~14 µs each: 0.7 s to fill a new 200 MB array, 10 ms to refill an old one), and training makes
 * the same few large outputs every epoch (full batch) or every batch (mini-batches). A buffer goes
 * back to the pool only when no tensor uses it any more, views made by slicing included; reads
 * hand out copies, so no caller ever sees a recycled buffer change under it.
 *
 * When training moves on to other sizes (the next layer, scoring), the first request for a size
 * never asked for before lets go of the free buffers of every size not asked for lately: they
 * belong to the phase that ended, and keeping them would only raise the peak. Sizes that take
 * turns within a step (each layer's weights in mini-batch training) are all asked for lately.
 *
 * @module
 */
import { MathBackendCPU, type tf } from "../deps.ts";

/** Outputs smaller than this are allocated as usual: their pages are cheap and reused by malloc. */
const POOL_MIN_BYTES = 1 << 16;

/**
 * Free buffers kept per length: enough for every output of one size alive at once in a step
 * (dozens of small ones in a mini-batch step, a few large ones in a full-batch epoch).
 */
function freeKept(length: number): number {
  return Math.max(8, Math.floor(FREE_BYTES_PER_LENGTH / (4 * length)));
}
const FREE_BYTES_PER_LENGTH = 128 << 20;

/** A size not asked for in this many pooled allocations belongs to a phase that ended. */
const STALE_AFTER = 32;

/** The cpu backend with pooled outputs; see the module's notes. */
export class PooledCPUBackend extends MathBackendCPU {
  /** Free buffers by length. */
  private readonly free = new Map<number, Float32Array[]>();
  /** Live tensors per pooled buffer. */
  private readonly users = new Map<ArrayBufferLike, number>();
  /** Pooled allocations so far, and when each length was last asked for. */
  private clock = 0;
  private readonly lastAsked = new Map<number, number>();

  /** A Float32Array of `length` whose contents the caller must overwrite completely. */
  allocate(length: number): Float32Array {
    if (length * 4 < POOL_MIN_BYTES) return new Float32Array(length);
    this.clock++;
    if (!this.lastAsked.has(length)) this.dropStale();
    this.lastAsked.set(length, this.clock);
    const values = this.free.get(length)?.pop() ?? new Float32Array(length);
    this.users.set(values.buffer, 0);
    return values;
  }

  private dropStale(): void {
    for (const [length, asked] of this.lastAsked) {
      if (this.clock - asked <= STALE_AFTER) continue;
      this.free.delete(length);
      this.lastAsked.delete(length);
    }
  }

  /**
   * True when `values` is the memory of exactly one live tensor and no view: a kernel told that
   * its input is about to be replaced may then write its output there.
   */
  soleUser(values: Float32Array): boolean {
    return this.users.get(values.buffer) === 1 && values.byteOffset === 0 &&
      values.length === values.buffer.byteLength / 4;
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType) {
    const dataId = super.write(values, shape, dtype);
    this.count(values, 1);
    return dataId;
  }

  override move(
    dataId: tf.DataId,
    values: tf.backend_util.BackendValues,
    shape: number[],
    dtype: tf.DataType,
    refCount: number,
  ): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.count(values, 1);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const disposed = super.disposeData(dataId, force);
    if (disposed && values !== undefined) this.count(values, -1);
    return disposed;
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    return this.users.has((values as Float32Array).buffer)
      ? (values as Float32Array).slice()
      : values;
  }

  private count(values: tf.backend_util.BackendValues, change: number): void {
    const buffer = (values as Float32Array).buffer;
    const users = this.users.get(buffer);
    if (users === undefined) return;
    if (users + change > 0) {
      this.users.set(buffer, users + change);
      return;
    }
    this.users.delete(buffer);
    const whole = new Float32Array(buffer);
    const free = this.free.get(whole.length) ?? [];
    if (free.length < freeKept(whole.length)) free.push(whole);
    this.free.set(whole.length, free);
  }
}

/**
 * The memory of `input` itself, for an output that replaces it, when nothing else can see that
 * memory: one tensor, one reference, no view (pooled backends only); else a fresh buffer.
 */
export function overwritable(
  backend: unknown,
  input: tf.TensorInfo,
  values: Float32Array,
): Float32Array {
  const cpu = backend as PooledCPUBackend;
  const alone = backend instanceof PooledCPUBackend && cpu.data.get(input.dataId)?.refCount === 1 &&
    cpu.soleUser(values);
  return alone ? values : allocateOutput(backend, values.length);
}

/** A cpu tensor's values, where its dtype is float32. */
export function valuesOf(backend: MathBackendCPU, info: tf.TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}

/** A buffer for an output of `length` floats, from the backend's pool when it has one. */
export function allocateOutput(backend: unknown, length: number): Float32Array {
  return backend instanceof PooledCPUBackend ? backend.allocate(length) : new Float32Array(length);
}

/**
 * Output buffers for an optimiser's update: the inputs' own memory when the caller replaces
 * them at once (`overwrite`) and nothing else sees it, which saves the memory traffic of fresh
 * arrays on every step; else fresh (pooled) ones.
 */
export function updateOutputs(
  cpu: MathBackendCPU,
  inputs: tf.TensorInfo[],
  overwrite: boolean,
): { arrays: Float32Array[]; infos: () => tf.TensorInfo[] } {
  const arrays = inputs.map((info) => {
    const values = valuesOf(cpu, info);
    return overwrite ? overwritable(cpu, info, values) : allocateOutput(cpu, values.length);
  });
  const shape = inputs[0].shape;
  return { arrays, infos: () => arrays.map((a) => cpu.makeTensorInfo(shape, "float32", a)) };
}
