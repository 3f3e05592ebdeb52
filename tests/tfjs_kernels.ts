// tfjs's own cpu kernels, captured before lib/ puts its fast paths in their place: a test module
// that imports this first can hold a fast path to the very kernel it replaces, bit for bit.
import { tf } from "../lib/core/deps.ts";

export const TFJS_CPU_KERNELS: ReadonlyMap<string, tf.KernelFunc> = new Map(
  tf.getKernelsForBackend("cpu").map((k) => [k.kernelName, k.kernelFunc]),
);
