/**
 * Pictures of locally connected layers (lib/core/local.ts): where in the image each location of
 * each layer looks.
 *
 * @module
 */
import type { LocalSpec } from "../core/mod.ts";
import { Plot } from "./plot.ts";

/** Pixels a location sees, as half-open ranges: rows [top, bottom), columns [left, right). */
export interface PixelField {
  rows: [number, number];
  columns: [number, number];
}

/**
 * The pixels location [row, column] of layer `layer` (0: the first local layer) depends on:
 * its patch of the layer below, that patch's locations' patches, and so on down to the image.
 *
 * @example The paper's MNIST net: 10 × 10 pixels, then 16 × 16, then 22 × 22
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { LocalSpec } from "../core/mod.ts";
 * import { receptiveField } from "./local.ts";
 * const specs: LocalSpec[] = [
 *   { grid: [4, 4], patch: [10, 10], stride: 6, channels: 128 },
 *   { grid: [3, 3], patch: [2, 2], stride: 1, channels: 220 },
 *   { grid: [2, 2], patch: [2, 2], stride: 1, channels: 512 },
 * ];
 * assertEquals(receptiveField(specs, 1, [1, 1]), { rows: [6, 22], columns: [6, 22] });
 * assertEquals(receptiveField(specs, 2, [0, 0]), { rows: [0, 22], columns: [0, 22] });
 * ```
 */
export function receptiveField(
  specs: LocalSpec[],
  layer: number,
  [row, column]: [number, number],
): PixelField {
  if (!Number.isInteger(layer) || layer < 0 || layer >= specs.length) {
    throw new Error(`layer must be a local layer's index, 0 to ${specs.length - 1}, got ${layer}`);
  }
  const { grid } = specs[layer];
  if (![row, column].every((v, axis) => Number.isInteger(v) && v >= 0 && v < grid[axis])) {
    throw new Error(
      `location [${row}, ${column}] is not on layer ${layer}'s ${grid[0]} × ${grid[1]} grid`,
    );
  }
  // Locations first..last of a layer, along one axis, see locations first·stride to
  // last·stride + patch - 1 of the layer below; the first layer's "locations below" are pixels.
  const along = (axis: 0 | 1, at: number): [number, number] => {
    let [first, last] = [at, at];
    for (let k = layer; k >= 0; k--) {
      const { stride, patch } = specs[k];
      [first, last] = [first * stride, last * stride + patch[axis] - 1];
    }
    return [first, last + 1];
  };
  return { rows: along(0, row), columns: along(1, column) };
}

/** Options of {@linkcode receptiveFieldPlot}. */
export interface ReceptiveFieldPlotOptions {
  /** The figure's title. */
  title?: string;
  /** The location each panel fills, one per layer; default the one nearest the grid's centre. */
  highlight?: [number, number][];
}

/**
 * One panel per local layer, each the image (28 × 28 grey values) with every location's
 * receptive field outlined and one location's filled: how far each layer sees.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { receptiveFieldPlot } from "./local.ts";
 * const image = Array.from({ length: 784 }, (_, i) => (i % 28) / 27);
 * const plot = receptiveFieldPlot(image, [{ grid: [4, 4], patch: [10, 10], stride: 6, channels: 8 }]);
 * assertEquals((plot.layout as { shapes: unknown[] }).shapes.length, 16 + 1); // 16 outlined, 1 filled
 * ```
 */
export function receptiveFieldPlot(
  image: ArrayLike<number>,
  specs: LocalSpec[],
  options: ReceptiveFieldPlotOptions = {},
): Plot {
  const side = Math.round(Math.sqrt(image.length));
  if (side * side !== image.length || side === 0) {
    throw new Error(`the image must be square, got ${image.length} values`);
  }
  if (specs.length === 0) throw new Error("specs must list at least one local layer");
  const z = Array.from(
    { length: side },
    (_, r) => Array.from(image).slice(r * side, (r + 1) * side),
  );
  const gap = 0.06;
  const width = (1 - gap * (specs.length - 1)) / specs.length;
  const layout: Record<string, unknown> = {
    title: { text: options.title ?? "Where each location of each local layer looks" },
    width: 60 + 300 * specs.length,
    height: 400,
    margin: { l: 50, r: 10, t: 110, b: 50 },
    showlegend: false,
  };
  const shapes: object[] = [];
  const annotations: object[] = [];
  const rect = (field: PixelField, axis: string, style: object) => ({
    type: "rect",
    xref: `x${axis}`,
    yref: `y${axis}`,
    x0: field.columns[0] - 0.5,
    x1: field.columns[1] - 0.5,
    y0: field.rows[0] - 0.5,
    y1: field.rows[1] - 0.5,
    ...style,
  });
  const data = specs.map((spec, layer) => {
    const axis = layer === 0 ? "" : String(layer + 1);
    const x0 = layer * (width + gap);
    layout[`xaxis${axis}`] = {
      domain: [x0, x0 + width],
      range: [-0.5, side - 0.5],
      ...(layer === 0 && { title: { text: "pixel column" } }),
    };
    layout[`yaxis${axis}`] = {
      range: [side - 0.5, -0.5],
      scaleanchor: `x${axis}`,
      ...(layer === 0 && { title: { text: "pixel row" } }),
    };
    const [rows, columns] = spec.grid;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) {
        const field = receptiveField(specs, layer, [r, c]);
        shapes.push(rect(field, axis, { line: { color: "rgba(31,119,180,0.7)", width: 1 } }));
      }
    }
    const chosen = options.highlight?.[layer] ??
      [Math.floor((rows - 1) / 2), Math.floor((columns - 1) / 2)] as [number, number];
    const field = receptiveField(specs, layer, chosen);
    shapes.push(rect(field, axis, {
      line: { color: "#d62728", width: 3 },
      fillcolor: "rgba(214,39,40,0.25)",
    }));
    const [h, w] = [field.rows[1] - field.rows[0], field.columns[1] - field.columns[0]];
    annotations.push({
      text: `h${layer + 1}: ${rows} × ${columns} locations<br>each sees ${h} × ${w} pixels`,
      showarrow: false,
      xref: "paper",
      yref: "paper",
      x: x0 + width / 2,
      y: 1,
      xanchor: "center",
      yanchor: "bottom",
    });
    return {
      type: "heatmap",
      z,
      colorscale: [[0, "black"], [1, "white"]],
      showscale: false,
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
      hovertemplate: "row %{y}, column %{x}<extra></extra>",
    };
  });
  return new Plot({ data, layout: { ...layout, shapes, annotations } });
}
