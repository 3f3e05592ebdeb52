/**
 * Locally connected layers without weight sharing (the paper's §3.2 MNIST net): a grid of
 * locations, each with its own units and its own weights over a patch of the layer below:
 * pixels for the first layer, a block of grid locations with all their channels above it.
 *
 * A local layer is a {@linkcode Layer} whose product is a different linear map; everything else
 * of FF (its normalised input, relu, goodness, the loss, peer normalisation, the optimisers) is
 * the dense layer's own code. Its weight is [units, inputs per unit], units ordered location by
 * location (unit l·channels + c is channel c of location l), so the next layer's input is the
 * grid with the channels innermost.
 *
 * The product is gathered patches times a batched product, [L, C, K] × [L, K, B]: exactly the
 * multiply-adds the geometry has (about 3.0 M per image for the paper's net). The other way, a
 * dense weight times a fixed 0/1 mask (Keras's "implementation 2"), reuses the dense product
 * but pays for every zero (about 9.7 M per image) and for masking the gradient on every step;
 * measured on `blas` it took longer an epoch (docs/performance.md, "Local receptive fields").
 *
 * The layer's input is normalised as a whole, as the paper normalises each layer's whole state
 * vector, not patch by patch: a location sees the direction of the whole layer below, and the
 * local layer stays the dense layer with zeros outside each patch (tests/local_test.ts).
 *
 * @module
 */
import { tf } from "./deps.ts";
import { type Fusable, fusable } from "./fusable.ts";

/** One locally connected layer, as a recipe writes it. */
export interface LocalSpec {
  /** Locations, [rows, columns]. */
  grid: [number, number];
  /**
   * What each location sees of the layer below, [rows, columns]: pixels for the first layer,
   * locations (with all their channels) for the others.
   */
  patch: [number, number];
  /** Rows and columns (pixels or locations) from one patch to the next. */
  stride: number;
  /** Units per location. */
  channels: number;
}

/** A local layer's wiring: which of the layer's inputs each location sees. */
export interface LocalGeometry {
  /** Locations, [rows, columns]. */
  grid: [number, number];
  /** Units per location. */
  channels: number;
  /** Each location's inputs, [locations][inputs per unit]: columns of the layer's input rows. */
  patches: number[][];
}

/** What the first local layer sits on. */
export interface LocalInput {
  /** The image, [rows, columns, channels]. */
  image: [number, number, number];
  /** Columns after the image that every location of the first layer sees (a label). */
  shared?: number[];
  /** Every layer's width, input first (FFNN's dims): a local layer's units must match. */
  dims: number[];
  /** How errors name `dims[i]`; default `dims[i]`. */
  widthName?: (i: number) => string;
  /** How errors name the specs; default `local`. */
  name?: string;
}

/**
 * The geometry of each local layer, the first `specs.length` layers of a network, checked: a
 * patch outside the layer below, or units that do not make the layer's width, throw one line
 * naming the setting.
 *
 * @example The paper's MNIST net, the label appended and seen by every first-layer location
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { localGeometries } from "./local.ts";
 * const [h1, h2, h3] = localGeometries(
 *   [
 *     { grid: [4, 4], patch: [10, 10], stride: 6, channels: 128 },
 *     { grid: [3, 3], patch: [2, 2], stride: 1, channels: 220 },
 *     { grid: [2, 2], patch: [2, 2], stride: 1, channels: 512 },
 *   ],
 *   { image: [28, 28, 1], shared: [784, 785, 786, 787, 788, 789, 790, 791, 792, 793], dims: [794, 2048, 1980, 2048] },
 * );
 * assertEquals([h1, h2, h3].map((g) => g.patches[0].length), [110, 512, 880]);
 * ```
 */
export function localGeometries(specs: LocalSpec[], input: LocalInput): LocalGeometry[] {
  const { image, shared = [], dims, widthName = (i) => `dims[${i}]`, name = "local" } = input;
  if (!Array.isArray(specs) || specs.length > dims.length - 1) {
    throw new Error(
      `${name} must list at most one geometry per hidden layer (${dims.length - 1}), got ` +
        `${Array.isArray(specs) ? specs.length : typeof specs}`,
    );
  }
  let below = image;
  return specs.map((spec, i) => {
    const at = `${name}[${i}]`;
    const pair = (key: "grid" | "patch") => {
      const value = spec?.[key];
      if (!Array.isArray(value) || value.length !== 2 || !value.every(isPositiveInteger)) {
        throw new Error(
          `${at}.${key} must be two positive integers [rows, columns], got ` +
            JSON.stringify(value),
        );
      }
      return value;
    };
    const [grid, patch] = [pair("grid"), pair("patch")];
    for (const key of ["stride", "channels"] as const) {
      if (!isPositiveInteger(spec[key])) {
        throw new Error(`${at}.${key} must be a positive integer, got ${spec[key]}`);
      }
    }
    const { stride, channels } = spec;
    const what = i === 0 ? "pixels" : `locations of ${name}[${i - 1}]`;
    for (const axis of [0, 1]) {
      const reach = (grid[axis] - 1) * stride + patch[axis];
      if (reach > below[axis]) {
        throw new Error(
          `${at}: ${grid[axis]} patches of ${patch[axis]} at stride ${stride} reach ${reach} ` +
            `${axis === 0 ? "rows" : "columns"}, but there are ${below[axis]} ${what}: lower ` +
            `${at}.grid, .patch or .stride`,
        );
      }
    }
    const units = grid[0] * grid[1] * channels;
    if (units !== dims[i + 1]) {
      throw new Error(
        `${at} makes ${units} units (${grid[0]} × ${grid[1]} locations × ${channels} channels), ` +
          `but ${widthName(i + 1)} is ${dims[i + 1]}: make them agree`,
      );
    }
    const [, columns, depth] = below;
    const patches: number[][] = [];
    for (let r = 0; r < grid[0]; r++) {
      for (let c = 0; c < grid[1]; c++) {
        const inputs: number[] = [];
        for (let dr = 0; dr < patch[0]; dr++) {
          for (let dc = 0; dc < patch[1]; dc++) {
            const first = ((r * stride + dr) * columns + c * stride + dc) * depth;
            for (let k = 0; k < depth; k++) inputs.push(first + k);
          }
        }
        patches.push(i === 0 ? [...inputs, ...shared] : inputs);
      }
    }
    below = [grid[0], grid[1], channels];
    return { grid: [grid[0], grid[1]], channels, patches };
  });
}

function isPositiveInteger(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) > 0;
}

/** The number of inputs each unit of a local layer sees. */
export function inputsPerUnit(geometry: LocalGeometry): number {
  return geometry.patches[0].length;
}

/** What the local product's kernels take besides tensors: the wiring, and the activation. */
export interface LocalAttrs extends tf.NamedAttrMap {
  /** {@linkcode LocalGeometry.patches}: every location's inputs. */
  patches: number[][];
  /** Units per location. */
  channels: number;
}

/** Each location's inputs from rows x: [locations, rows, inputs per unit]. */
function gatherPatches(x: tf.Tensor2D, patches: number[][]): tf.Tensor3D {
  const gathered = tf.gather(x, tf.tensor1d(patches.flat(), "int32"), 1);
  const perUnit = patches[0].length;
  return tf.transpose(tf.reshape(gathered, [x.shape[0], patches.length, perUnit]), [1, 0, 2]);
}

const affineFormula: Fusable<
  { x: tf.Tensor2D; weight: tf.Tensor2D; bias: tf.Tensor1D },
  LocalAttrs & { activation: "relu" | "linear" },
  tf.Tensor2D
> = fusable(
  "FFLocalAffine",
  ({ x, weight, bias }, { patches, channels, activation }) => {
    const [rows, out] = [x.shape[0], weight.shape[0]];
    const w = tf.reshape(weight, [patches.length, channels, -1]);
    // [L, B, K] × [L, C, K]ᵀ = [L, B, C], then each row's locations side by side.
    const z3 = tf.matMul(gatherPatches(x, patches), w, false, true);
    const z = tf.add(tf.reshape(tf.transpose(z3, [1, 0, 2]), [rows, out]), bias) as tf.Tensor2D;
    return activation === "relu" ? tf.relu(z) : z;
  },
);

/**
 * z = xWᵀ + b of a local layer, then `activation`: one product per location over its patch of
 * rows x, the multiply-adds the geometry has and no more. A backend may compute it without
 * gathering the patches into a tensor (lib/backends/).
 */
export function localAffine(
  x: tf.Tensor2D,
  weight: tf.Tensor2D,
  bias: tf.Tensor1D,
  geometry: LocalGeometry,
  activation: "relu" | "linear",
): tf.Tensor2D {
  const { patches, channels } = geometry;
  return affineFormula({ x, weight, bias }, { patches, channels, activation });
}
localAffine.kernel = affineFormula;

const weightGradientFormula: Fusable<
  { dz: tf.Tensor2D; x: tf.Tensor2D },
  LocalAttrs,
  tf.Tensor2D
> = fusable("FFLocalWeightGradient", ({ dz, x }, { patches, channels }) => {
  const [rows, out] = dz.shape;
  const dz3 = tf.transpose(tf.reshape(dz, [rows, patches.length, channels]), [1, 0, 2]);
  // [L, B, C]ᵀ × [L, B, K] = [L, C, K].
  return tf.reshape(tf.matMul(dz3, gatherPatches(x, patches), true, false), [out, -1]);
});

/** ∂loss/∂W of a local layer, [units, inputs per unit]: dzᵀx location by location. */
export function localWeightGradient(
  dz: tf.Tensor2D,
  x: tf.Tensor2D,
  geometry: LocalGeometry,
): tf.Tensor2D {
  const { patches, channels } = geometry;
  return weightGradientFormula({ dz, x }, { patches, channels });
}
localWeightGradient.kernel = weightGradientFormula;

/**
 * A local layer's weight as the dense weight it stands for, [units, inputs]: zero outside each
 * location's patch. For checks and pictures; training never builds it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tf } from "./deps.ts";
import { type Fusable, fusable } from "./fusable.ts";
 * import { denseWeight } from "./local.ts";
 * const geometry = { grid: [1, 2] as [number, number], channels: 1, patches: [[0], [2]] };
 * const dense = denseWeight(tf.tensor2d([[5], [7]]), geometry, 3);
 * assertEquals(dense.arraySync(), [[5, 0, 0], [0, 0, 7]]);
 * ```
 */
export function denseWeight(
  weight: tf.Tensor2D,
  geometry: LocalGeometry,
  inFeatures: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const { channels, patches } = geometry;
    const indices: number[][] = [];
    patches.forEach((inputs, l) => {
      for (let c = 0; c < channels; c++) {
        for (const input of inputs) indices.push([l * channels + c, input]);
      }
    });
    return tf.scatterND(
      tf.tensor2d(indices, [indices.length, 2], "int32"),
      tf.reshape(weight, [-1]),
      [weight.shape[0], inFeatures],
    ) as tf.Tensor2D;
  });
}

/**
 * The column of the dense weight (see {@linkcode denseWeight}) for input `column`, [units, 1]:
 * a unit's weight on that input, 0 where its patch leaves the input out.
 */
export function localColumn(
  weight: tf.Tensor2D,
  geometry: LocalGeometry,
  column: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const { channels, patches } = geometry;
    const perUnit = patches[0].length;
    const at: number[] = [];
    const seen: number[] = [];
    patches.forEach((inputs, l) => {
      const position = inputs.indexOf(column);
      for (let c = 0; c < channels; c++) {
        at.push((l * channels + c) * perUnit + Math.max(position, 0));
        seen.push(position >= 0 ? 1 : 0);
      }
    });
    const values = tf.gather(tf.reshape(weight, [-1]), tf.tensor1d(at, "int32"));
    return tf.reshape(tf.mul(values, tf.tensor1d(seen)), [-1, 1]) as tf.Tensor2D;
  });
}
