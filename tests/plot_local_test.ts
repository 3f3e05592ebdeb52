// The picture of locally connected layers: each location's receptive field in pixels, checked
// against the wiring the layers themselves use (localGeometries' patches, followed down to the
// pixels), and the figure that draws them.
import { assertEquals, assertThrows } from "@std/assert";
import { localGeometries, type LocalSpec } from "../lib/core/mod.ts";
import { receptiveField, receptiveFieldPlot } from "../lib/plot/local.ts";

const PAPER: LocalSpec[] = [
  { grid: [4, 4], patch: [10, 10], stride: 6, channels: 3 },
  { grid: [3, 3], patch: [2, 2], stride: 1, channels: 2 },
  { grid: [2, 2], patch: [2, 2], stride: 1, channels: 2 },
];
const ODD: LocalSpec[] = [
  { grid: [3, 2], patch: [5, 7], stride: 4, channels: 2 },
  { grid: [2, 1], patch: [2, 2], stride: 1, channels: 3 },
];

/** The pixels each location of each layer depends on, by following the layers' own patches. */
function pixelsByWiring(specs: LocalSpec[], side: number): Set<number>[][] {
  const dims = [side * side, ...specs.map((s) => s.grid[0] * s.grid[1] * s.channels)];
  const geometries = localGeometries(specs, { image: [side, side, 1], dims });
  const seen: Set<number>[][] = [];
  geometries.forEach((geometry, layer) => {
    seen.push(geometry.patches.map((inputs) => {
      if (layer === 0) return new Set(inputs);
      const below = specs[layer - 1].channels;
      const locations = new Set(inputs.map((unit) => Math.floor(unit / below)));
      return new Set([...locations].flatMap((l) => [...seen[layer - 1][l]]));
    }));
  });
  return seen;
}

for (const [name, specs] of [["the paper's net", PAPER], ["an uneven net", ODD]] as const) {
  Deno.test(`receptiveField: the pixels the layers' own wiring reaches, ${name}`, () => {
    const side = 28;
    pixelsByWiring(specs, side).forEach((locations, layer) => {
      locations.forEach((pixels, l) => {
        const at: [number, number] = [
          Math.floor(l / specs[layer].grid[1]),
          l % specs[layer].grid[1],
        ];
        const rows = [...pixels].map((p) => Math.floor(p / side));
        const columns = [...pixels].map((p) => p % side);
        const field = receptiveField(specs, layer, at);
        assertEquals(field, {
          rows: [Math.min(...rows), Math.max(...rows) + 1],
          columns: [Math.min(...columns), Math.max(...columns) + 1],
        }, `layer ${layer}, location ${at}`);
        // A field is a full rectangle: every pixel inside it is reached.
        const area = (field.rows[1] - field.rows[0]) * (field.columns[1] - field.columns[0]);
        assertEquals(pixels.size, area, `layer ${layer}, location ${at}`);
      });
    });
  });
}

Deno.test("receptiveField: a layer or location off the grid says which", () => {
  assertThrows(() => receptiveField(PAPER, 3, [0, 0]), Error, "0 to 2, got 3");
  assertThrows(() => receptiveField(PAPER, 1, [3, 0]), Error, "not on layer 1's 3 × 3 grid");
});

Deno.test("receptiveFieldPlot: a panel per layer, every field outlined and one filled", () => {
  const image = Array.from({ length: 784 }, (_, i) => (i % 28) / 27);
  const plot = receptiveFieldPlot(image, PAPER);
  assertEquals(plot.data.length, 3);
  const { shapes, annotations } = plot.layout as {
    shapes: { fillcolor?: string; x0: number; x1: number; xref: string }[];
    annotations: { text: string }[];
  };
  assertEquals(shapes.length, 16 + 1 + 9 + 1 + 4 + 1);
  const filled = shapes.filter((s) => s.fillcolor);
  assertEquals(filled.map((s) => [s.xref, s.x1 - s.x0]), [["x", 10], ["x2", 16], ["x3", 22]]);
  assertEquals(annotations.map((a) => a.text.replace(/<br>.*/, "")), [
    "h1: 4 × 4 locations",
    "h2: 3 × 3 locations",
    "h3: 2 × 2 locations",
  ]);
  assertThrows(() => receptiveFieldPlot([1, 2, 3], PAPER), Error, "must be square");
});
