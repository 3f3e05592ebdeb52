/**
 * The FF loss and gradient (see ./goodness.ts) as one kernel for the JavaScript backends.
 *
 * Why hand-written: on the cpu and blas backends each tfjs op is a full pass over the
 * activations, and a row-broadcast multiply takes tfjs's slow general broadcasting path.
 * Here the whole thing is two tight loops over a Float32Array: one for each row's goodness,
 * one to write the gradient.
 *
 * @module
 */
import { type MathBackendCPU, tf } from "./deps.ts";
import { FF_LOSS_GRAD } from "./goodness.ts";

/** softplus(u) = log(1 + eᵘ), written so that it neither overflows nor loses small values. */
function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

function ffLossGradKernel(
  { inputs, backend, attrs }: {
    inputs: tf.NamedTensorInfoMap;
    backend: unknown;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo[] {
  const cpu = backend as MathBackendCPU;
  const z = inputs.z as tf.TensorInfo;
  const numPositive = attrs!.numPositive as number;
  const threshold = attrs!.threshold as number;
  const [rows, width] = z.shape;
  const values = cpu.data.get(z.dataId).values as Float32Array;
  const dz = new Float32Array(rows * width);
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    const end = start + width;
    let sumSquares = 0;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (v > 0) sumSquares += v * v;
    }
    const sign = r < numPositive ? -1 : 1;
    const u = sign * (sumSquares / width - threshold);
    lossSum += softplus(u);
    const scale = (sign / (1 + Math.exp(-u))) * 2 / (rows * width);
    for (let i = start; i < end; i++) {
      const v = values[i];
      dz[i] = v > 0 ? scale * v : 0;
    }
  }
  const loss = cpu.makeTensorInfo([], "float32", new Float32Array([lossSum / rows]));
  return [loss, cpu.makeTensorInfo([rows, width], "float32", dz)];
}

/**
 * Registers the fused FF kernel for the given backends (those built on tfjs's cpu backend).
 *
 * @example
 * ```ts
 * registerFusedKernels(["cpu", "blas"]);
 * ```
 */
export function registerFusedKernels(backendNames: string[]): void {
  for (const backendName of backendNames) {
    if (tf.getKernel(FF_LOSS_GRAD, backendName) !== undefined) continue;
    tf.registerKernel({ kernelName: FF_LOSS_GRAD, backendName, kernelFunc: ffLossGradKernel });
  }
}
