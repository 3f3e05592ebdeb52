/**
 * The core's formulas (lib/core/: goodness, row normalisation, the FF loss and its gradient, the
 * Adam and SGD updates) as WGSL compute shaders for tfjs's webgpu backend. Each computes exactly
 * its formula, in float32 as the formula does on that backend; tests/kernels_test.ts holds them
 * equal on random inputs.
 *
 * Why: every tfjs op is one dispatch that reads its inputs from GPU memory and writes its output
 * back. The loss and its gradient take about a dozen such ops over the activations, an Adam step
 * ten over the weights; here each is one pass per output, the row sums kept in workgroup memory.
 *
 * tfjs's webgpu backend runs a program with one output; a formula with several outputs (the loss
 * and its gradient, an optimiser's new parameter and state) is one program per output, each
 * recomputing from the inputs what it needs (element-wise, that is cheaper than writing and
 * reading back an intermediate); only the loss keeps one value per row between its programs.
 *
 * A program here is what tfjs-backend-webgpu 4.22's `WebGPUProgram` asks for: the backend adds a
 * header declaring `result` (the output), one read-only array per name in `variableNames`, and a
 * `uniforms` struct that ends with the fields of `uniforms`; it calls `main(index)` once per
 * invocation, `index` counting invocations over all workgroups.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { adamUpdate, ffLossAndGradient, goodness, normalizeRows, sgdUpdate } from "../core/mod.ts";

/** The fields of tfjs-backend-webgpu's WebGPUProgram that a program here fills in. */
interface Program {
  shaderKey: string;
  outputShape: number[];
  variableNames: string[];
  uniforms: string;
  /** Adds the output's size to the uniforms (`uniforms.size`). */
  size: boolean;
  workgroupSize: [number, number, number];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  getUserCode: () => string;
}

type Uniform = { type: "float32" | "int32"; data: number[] };

/** What the kernels use of tfjs-backend-webgpu's WebGPUBackend. */
interface WebGPUBackend {
  runWebGPUProgram(
    program: Program,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    programUniforms?: Uniform[],
  ): tf.TensorInfo;
  disposeData(dataId: tf.DataId): boolean;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

const f32 = (...data: number[]): Uniform => ({ type: "float32", data });
const i32 = (...data: number[]): Uniform => ({ type: "int32", data });

/** Invocations per row in the row programs: they share the row's sum through workgroup memory. */
const ROW_THREADS = 64;
/** Invocations per workgroup in the element-wise programs, as tfjs's own. */
const ELEMENT_THREADS = 128;

/**
 * A program over `outputShape`: by `"row"`, one workgroup of ROW_THREADS invocations per row of
 * its first dimension; by `"element"`, one invocation per value, ELEMENT_THREADS a workgroup.
 */
function makeProgram(
  by: "row" | "element",
  shaderKey: string,
  outputShape: number[],
  variableNames: string[],
  uniforms: string,
  code: string,
): Program {
  const threads = by === "row" ? ROW_THREADS : ELEMENT_THREADS;
  const size = tf.util.sizeFromShape(outputShape);
  return {
    shaderKey,
    outputShape,
    variableNames,
    uniforms,
    size: by === "element",
    workgroupSize: [threads, 1, 1],
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [by === "row" ? outputShape[0] : Math.ceil(size / threads), 1, 1],
    getUserCode: () => code,
  };
}

/**
 * `workgroupSum(value)`: the sum of `value` over the workgroup's invocations, by halves in
 * workgroup memory. Every invocation must call it (it holds barriers), and once per program.
 */
const WORKGROUP_SUM = `
  var<workgroup> partial : array<f32, ${ROW_THREADS}>;

  fn workgroupSum(value : f32) -> f32 {
    partial[localId.x] = value;
    workgroupBarrier();
    for (var stride = ${ROW_THREADS / 2}u; stride > 0u; stride = stride / 2u) {
      if (localId.x < stride) {
        partial[localId.x] = partial[localId.x] + partial[localId.x + stride];
      }
      workgroupBarrier();
    }
    return partial[0];
  }
`;

/**
 * `rowSumOfSquares(row)`: Σ value(i)² over the row, where value(i) reads element i of the input
 * (an expression in `i`). Every invocation of the workgroup must call it, also those past the
 * last row (the dispatch may be padded). Needs `uniforms.width` and `uniforms.rows`.
 */
function rowSumOfSquares(value: string): string {
  return `
    ${WORKGROUP_SUM}
    fn rowSumOfSquares(row : i32) -> f32 {
      var sum = 0.0;
      if (row < uniforms.rows) {
        let start = row * uniforms.width;
        for (var k = i32(localId.x); k < uniforms.width; k = k + ${ROW_THREADS}) {
          let i = start + k;
          let v = ${value};
          sum = sum + v * v;
        }
      }
      return workgroupSum(sum);
    }
  `;
}

/** relu as tfjs's webgpu relu: NaN stays NaN, so a diverging loss is still seen. */
const RELU = "fn relu(a : f32) -> f32 { return select(a, 0.0, a < 0.0); }";

/** softplus as tfjs's webgpu softplus (its unary_op_util.ts): stable for large |a|. */
const SOFTPLUS = `
  fn softplus(a : f32) -> f32 {
    let threshold = log(1.1920928955078125e-7) + 2.0;
    let e = exp(a);
    if (a > -threshold) {
      return a;
    } else if (a < threshold) {
      return e;
    }
    return log(e + 1.0);
  }
`;

function values(inputs: KernelArgs["inputs"], names: string[]): tf.TensorInfo[] {
  return names.map((name) => {
    const info = inputs[name] as tf.TensorInfo;
    if (info.dtype !== "float32") {
      throw new Error(`input ${name} is ${info.dtype}: these kernels take float32 tensors`);
    }
    return info;
  });
}

/** See goodness in lib/core/goodness.ts: mean(h²) or sum(h²) of every row. */
function goodnessKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const [h] = values(inputs, ["h"]);
  const [rows, width] = h.shape;
  const divisor = (attrs as { kind: string }).kind === "sum" ? 1 : width;
  const program = makeProgram(
    "row",
    "ff_goodness",
    [rows],
    ["h"],
    "width : i32, rows : i32, divisor : f32,",
    `${rowSumOfSquares("h[i]")}
    fn main(index : i32) {
      let row = index / ${ROW_THREADS};
      let sum = rowSumOfSquares(row);
      if (row < uniforms.rows && localId.x == 0u) {
        setOutputAtIndex(row, sum / uniforms.divisor);
      }
    }`,
  );
  return (backend as unknown as WebGPUBackend).runWebGPUProgram(program, [h], "float32", [
    i32(width),
    i32(rows),
    f32(divisor),
  ]);
}

/**
 * See normalizeRows in lib/core/layer.ts: x / (√Σx² + 1e-8), or x / (√mean(x²) + e⁻¹⁰⁰).
 *
 * e⁻¹⁰⁰ is a subnormal float32, which a GPU may flush to zero; the formula then divides an
 * all-zero row by zero. Such a row is zero, as the formula's small constant means it to be.
 */
function normalizeRowsKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const [x] = values(inputs, ["x"]);
  const rms = (attrs as { kind: string }).kind === "rms";
  const [rows, width] = x.shape;
  const program = makeProgram(
    "row",
    "ff_normalize_rows",
    [rows, width],
    ["x"],
    "width : i32, rows : i32, meanSquare : i32, tiny : f32,",
    `${rowSumOfSquares("x[i]")}
    fn main(index : i32) {
      let row = index / ${ROW_THREADS};
      var square = rowSumOfSquares(row);
      if (uniforms.meanSquare == 1) {
        square = square / f32(uniforms.width);
      }
      let denominator = sqrt(square) + uniforms.tiny;
      if (row < uniforms.rows) {
        let start = row * uniforms.width;
        for (var k = i32(localId.x); k < uniforms.width; k = k + ${ROW_THREADS}) {
          let i = start + k;
          setOutputAtIndex(i, select(x[i] / denominator, 0.0, denominator == 0.0));
        }
      }
    }`,
  );
  return (backend as unknown as WebGPUBackend).runWebGPUProgram(program, [x], "float32", [
    i32(width),
    i32(rows),
    i32(rms ? 1 : 0),
    f32(rms ? Math.exp(-100) : 1e-8),
  ]);
}

/**
 * See ffLossAndGradient in lib/core/goodness.ts. Programs: u = s(g - θ) for every row; the loss
 * mean(softplus(u)) in one workgroup; h = relu(z); with peer normalisation, the running mean
 * m' = 0.9m + 0.1·mean(h) over positive rows (one invocation per unit) and mean(m') (one
 * workgroup); and ∂loss/∂z = h · s·sigmoid(u) · ∂g/∂h / R, plus λ(m' - mean(m')) / P on the P
 * positive rows.
 */
function ffLossGradKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const webgpu = backend as unknown as WebGPUBackend;
  const [z] = values(inputs, ["z"]);
  const { numPositive, threshold, kind, peer } = attrs as {
    numPositive: number;
    threshold: number;
    kind: string;
    peer: number;
  };
  const [rows, width] = z.shape;
  const sign = "select(1.0, -1.0, row < uniforms.numPositive)";
  const u = webgpu.runWebGPUProgram(
    makeProgram(
      "row",
      "ff_loss_u",
      [rows],
      ["z"],
      "width : i32, rows : i32, numPositive : i32, threshold : f32, divisor : f32,",
      `${RELU}
      ${rowSumOfSquares("relu(z[i])")}
      fn main(index : i32) {
        let row = index / ${ROW_THREADS};
        let sum = rowSumOfSquares(row);
        if (row < uniforms.rows && localId.x == 0u) {
          setOutputAtIndex(row, ${sign} * (sum / uniforms.divisor - uniforms.threshold));
        }
      }`,
    ),
    [z],
    "float32",
    [i32(width), i32(rows), i32(numPositive), f32(threshold), f32(kind === "sum" ? 1 : width)],
  );
  // One workgroup for all rows: one value per row, too few to be worth splitting.
  const loss = webgpu.runWebGPUProgram(
    makeProgram(
      "row",
      "ff_loss_mean",
      [1],
      ["u"],
      "rows : i32,",
      `${SOFTPLUS}
      ${WORKGROUP_SUM}
      fn main(index : i32) {
        var sum = 0.0;
        for (var r = i32(localId.x); r < uniforms.rows; r = r + ${ROW_THREADS}) {
          sum = sum + softplus(u[r]);
        }
        let total = workgroupSum(sum);
        if (localId.x == 0u) {
          setOutputAtIndex(0, total / f32(uniforms.rows));
        }
      }`,
    ),
    [u],
    "float32",
    [i32(rows)],
  );
  const h = webgpu.runWebGPUProgram(
    makeProgram(
      "element",
      "ff_loss_relu",
      [rows, width],
      ["z"],
      "",
      `${RELU}
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, relu(z[index]));
        }
      }`,
    ),
    [z],
    "float32",
    [],
  );
  const dgdh = kind === "sum" ? 2 : 2 / width;
  const gradientUniforms = [i32(width), i32(numPositive), f32(dgdh / rows)];
  const gradient = `let row = index / uniforms.width;
    let sigmoid = 1.0 / (1.0 + exp(-1.0 * u[row]));
    let dz = h[index] * (${sign} * sigmoid * uniforms.gradientScale);`;
  if (!(peer > 0)) {
    const dz = webgpu.runWebGPUProgram(
      makeProgram(
        "element",
        "ff_loss_gradient",
        [rows, width],
        ["h", "u"],
        "width : i32, numPositive : i32, gradientScale : f32,",
        `fn main(index : i32) {
          if (index < uniforms.size) {
            ${gradient}
            setOutputAtIndex(index, dz);
          }
        }`,
      ),
      [h, u],
      "float32",
      gradientUniforms,
    );
    webgpu.disposeData(u.dataId);
    // The program wrote one value; the formula's loss is a scalar: the same buffer, shape [].
    return [{ ...loss, shape: [] }, dz, h];
  }
  const [m] = values(inputs, ["meanActivity"]);
  const meanActivity = webgpu.runWebGPUProgram(
    makeProgram(
      "element",
      "ff_peer_mean",
      [width],
      ["h", "m"],
      "width : i32, numPositive : i32,",
      `fn main(index : i32) {
        if (index < uniforms.size) {
          var sum = 0.0;
          for (var r = 0; r < uniforms.numPositive; r = r + 1) {
            sum = sum + h[r * uniforms.width + index];
          }
          setOutputAtIndex(index, 0.9 * m[index] + 0.1 * (sum / f32(uniforms.numPositive)));
        }
      }`,
    ),
    [h, m],
    "float32",
    [i32(width), i32(numPositive)],
  );
  const average = webgpu.runWebGPUProgram(
    makeProgram(
      "row",
      "ff_peer_average",
      [1],
      ["m"],
      "width : i32,",
      `${WORKGROUP_SUM}
      fn main(index : i32) {
        var sum = 0.0;
        for (var j = i32(localId.x); j < uniforms.width; j = j + ${ROW_THREADS}) {
          sum = sum + m[j];
        }
        let total = workgroupSum(sum);
        if (localId.x == 0u) {
          setOutputAtIndex(0, total / f32(uniforms.width));
        }
      }`,
    ),
    [meanActivity],
    "float32",
    [i32(width)],
  );
  const dz = webgpu.runWebGPUProgram(
    makeProgram(
      "element",
      "ff_loss_gradient_peer",
      [rows, width],
      ["h", "u", "m", "average"],
      "width : i32, numPositive : i32, gradientScale : f32, pull : f32,",
      `fn main(index : i32) {
        if (index < uniforms.size) {
          ${gradient}
          let column = index % uniforms.width;
          let pull = select(0.0, uniforms.pull * (m[column] - average[0]), row < uniforms.numPositive);
          setOutputAtIndex(index, dz + pull);
        }
      }`,
    ),
    [h, u, meanActivity, average],
    "float32",
    [...gradientUniforms, f32(peer / numPositive)],
  );
  webgpu.disposeData(u.dataId);
  webgpu.disposeData(average.dataId);
  return [{ ...loss, shape: [] }, dz, h, meanActivity];
}

/** One element-wise program per output, each writing `outputs[n]` after `body`. */
function elementwise(
  backend: WebGPUBackend,
  key: string,
  inputs: tf.TensorInfo[],
  names: string[],
  uniforms: string,
  uniformValues: Uniform[],
  body: string,
  outputs: string[],
): tf.TensorInfo[] {
  const shape = inputs[0].shape;
  return outputs.map((output, n) =>
    backend.runWebGPUProgram(
      makeProgram(
        "element",
        `${key}_${n}`,
        shape,
        names,
        uniforms,
        `fn main(index : i32) {
          if (index < uniforms.size) {
            ${body}
            setOutputAtIndex(index, ${output});
          }
        }`,
      ),
      inputs,
      "float32",
      uniformValues,
    )
  );
}

const ADAM_NAMES = ["param", "firstMoment", "secondMoment", "gradient"];

/**
 * See adamUpdate in lib/core/optim.ts:
 * m₁ = βm + (1-β)g, v₁ = β₂v + (1-β₂)g², p₁ = p - m₁ / (√v₁ / √(1-β₂ᵗ) + ε) · lr / (1-β₁ᵗ).
 */
function adamUpdateKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { learningRate, beta1, beta2, epsilon, step } = attrs as Record<string, number>;
  return elementwise(
    backend as unknown as WebGPUBackend,
    "ff_adam",
    values(inputs, ["p", "m", "v", "g"]),
    ADAM_NAMES,
    "beta1 : f32, keep1 : f32, beta2 : f32, keep2 : f32, rootCorrection : f32, epsilon : f32, " +
      "stepSize : f32,",
    [
      f32(beta1),
      f32(1 - beta1),
      f32(beta2),
      f32(1 - beta2),
      f32(Math.sqrt(1 - beta2 ** step)),
      f32(epsilon),
      f32(learningRate / (1 - beta1 ** step)),
    ],
    `let g = gradient[index];
    let m1 = firstMoment[index] * uniforms.beta1 + g * uniforms.keep1;
    let v1 = secondMoment[index] * uniforms.beta2 + (g * g) * uniforms.keep2;
    let denominator = sqrt(v1) / uniforms.rootCorrection + uniforms.epsilon;
    let p1 = param[index] - (m1 / denominator) * uniforms.stepSize;`,
    ["p1", "m1", "v1"],
  );
}

/** See sgdUpdate in lib/core/optim.ts: v₁ = μv + (1-μ)g, p₁ = p - lr · (v₁ + λp). */
function sgdUpdateKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { learningRate, momentum, weightDecay } = attrs as Record<string, number>;
  return elementwise(
    backend as unknown as WebGPUBackend,
    "ff_sgd",
    values(inputs, ["p", "v", "g"]),
    ["param", "velocity", "gradient"],
    "momentum : f32, keep : f32, learningRate : f32, weightDecay : f32,",
    [f32(momentum), f32(1 - momentum), f32(learningRate), f32(weightDecay)],
    `let p = param[index];
    let v1 = velocity[index] * uniforms.momentum + gradient[index] * uniforms.keep;
    let p1 = p - (v1 + p * uniforms.weightDecay) * uniforms.learningRate;`,
    ["p1", "v1"],
  );
}

/** Every WGSL kernel of this file, under the name of the formula it computes. */
export const WEBGPU_KERNELS: readonly [string, tf.KernelFunc][] = [
  [ffLossAndGradient.kernel.kernelName, ffLossGradKernel as tf.KernelFunc],
  [normalizeRows.kernel.kernelName, normalizeRowsKernel as tf.KernelFunc],
  [goodness.kernel.kernelName, goodnessKernel as tf.KernelFunc],
  [adamUpdate.kernelName, adamUpdateKernel as tf.KernelFunc],
  [sgdUpdate.kernelName, sgdUpdateKernel as tf.KernelFunc],
];
