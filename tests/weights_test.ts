// Weights files: the binary form read back bit for bit (float32) or within float16's rounding,
// the JSON form and the files from before checksums still loading, and every kind of damage (a
// changed byte anywhere, a cut, another header) refused in one line naming the file.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { FFNN, type Network, recipe, setBackend, tf } from "../lib/mod.ts";
import { sha256 } from "../lib/files.ts";
import { loadNetwork, networkState, readWeightsHeader, saveNetwork } from "../lib/weights.ts";

await setBackend("cpu");

/** A network with a readout, trained a little so that no value is its initial one. */
async function trainedNet(): Promise<FFNN> {
  const net = new FFNN([30, 12, 10], {
    seed: 3,
    label: "overlay",
    optimizer: "sgd",
    readout: { fromLayer: 0 },
  });
  const x = tf.randomUniform([40, 30], 0, 1, "float32", 5) as tf.Tensor2D;
  await net.trainMiniBatch(x, Array.from({ length: 40 }, (_, i) => i % 10), {
    batchSize: 20,
    epochs: 2,
  });
  x.dispose();
  return net;
}

/** Every parameter that predicts, as bytes. */
function parameterBytes(net: Network): Uint8Array[] {
  return [...net.layers.flatMap((l) => [l.weight, l.bias]), ...net.readout!.weights].map((v) =>
    new Uint8Array((v.dataSync() as Float32Array).slice().buffer)
  );
}

/** The one-line error `load` gives, asserted to name `path`. */
async function oneLineError(load: () => Promise<unknown>, path: string): Promise<string> {
  const error = await assertRejects(load);
  const message = (error as Error).message;
  assert(!message.includes("\n"), `more than one line: ${message}`);
  assertStringIncludes(message, path);
  return message;
}

/** `bytes` with the byte at `offset` changed (one character, where it is text). */
function changed(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset] ^= 0x01;
  return copy;
}

Deno.test("a binary weights file reads back bit for bit, with its header", async () => {
  const before = tf.memory().numTensors;
  const net = await trainedNet();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/weights.ffw`;
  const r = recipe("fast", { layers: [12, 10] });
  await saveNetwork(net, path, { recipe: r, dataset: "mnist", commit: "abc1234" });
  const loaded = await loadNetwork(path);
  assertEquals(parameterBytes(loaded), parameterBytes(net));
  assertEquals(loaded.dims, net.dims);
  assertEquals(loaded.options, net.options);
  const header = await readWeightsHeader(path);
  assertEquals([header.recipe, header.dataset, header.commit], [r, "mnist", "abc1234"]);
  assertEquals(header.tensors.map((t) => t.name), [
    "layer1.weight",
    "layer1.bias",
    "layer2.weight",
    "layer2.bias",
    "readout.weight1",
    "readout.weight2",
  ]);
  // The parameters' float32 bytes, a header, and the checksum: nothing else.
  const count = [30 * 12, 12, 12 * 10, 10, 12 * 10, 10 * 10].reduce((a, b) => a + b);
  const size = (await Deno.stat(path)).size;
  assert(size > count * 4 + 64 && size < count * 4 + 64 + 2048, `${size} bytes`);
  const x = tf.randomUniform([8, 30], 0, 1, "float32", 9) as tf.Tensor2D;
  const [a, b] = [
    net.predict(x, { readout: "softmax" }),
    loaded.predict(x, { readout: "softmax" }),
  ];
  assertEquals(await a.data(), await b.data());
  tf.dispose([x, a, b]);
  net.dispose();
  loaded.dispose();
  assertEquals(tf.memory().numTensors, before, "tensors left behind");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("float16 halves the file and keeps every value within float16's rounding", async () => {
  const net = await trainedNet();
  const dir = await Deno.makeTempDir();
  await saveNetwork(net, `${dir}/a.ffw`);
  await saveNetwork(net, `${dir}/b.ffw`, { precision: "float16" });
  const [full, half] = [
    (await Deno.stat(`${dir}/a.ffw`)).size,
    (await Deno.stat(`${dir}/b.ffw`))
      .size,
  ];
  assert(half < full * 0.6, `${half} bytes against ${full}`);
  assertEquals((await readWeightsHeader(`${dir}/b.ffw`)).dtype, "float16");
  const loaded = await loadNetwork(`${dir}/b.ffw`);
  const [want, got] = [parameterBytes(net), parameterBytes(loaded)].map((list) =>
    list.map((bytes) => new Float32Array(bytes.buffer))
  );
  let changedValues = 0;
  want.forEach((values, t) =>
    values.forEach((v, i) => {
      const error = Math.abs(got[t][i] - v);
      // Rounding to nearest: half a unit in the 11th significant bit, or of the smallest step.
      assert(error <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `${v} read back as ${got[t][i]}`);
      if (error > 0) changedValues++;
    })
  );
  assert(changedValues > 0, "float16 rounded nothing: the test would pass for float32");
  // A copied lib/ on a Deno without Float16Array: one line, not a ReferenceError.
  const global = globalThis as Record<string, unknown>;
  const builtIn = global.Float16Array;
  delete global.Float16Array;
  try {
    await assertRejects(
      () => loadNetwork(`${dir}/b.ffw`),
      Error,
      `${dir}/b.ffw holds float16 values: reading float16 values needs a Deno with Float16Array`,
    );
  } finally {
    global.Float16Array = builtIn;
  }
  net.dispose();
  loaded.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a value beyond float16 is refused, and the failed save leaves the old file", async () => {
  const net = await trainedNet();
  const path = `${await Deno.makeTempDir()}/weights.ffw`;
  await saveNetwork(net, path, { precision: "float16" });
  const old = await Deno.readFile(path);
  tf.tidy(() => net.layers[1].bias.assign(tf.fill([10], 1e5)));
  await assertRejects(
    () => saveNetwork(net, path, { precision: "float16" }),
    Error,
    `precision "float16" cannot hold layer2.bias's value 100000 (float16 ends at ±65504): ` +
      `save with precision "float32"`,
  );
  assertEquals(await Deno.readFile(path), old);
  await assertRejects(
    () => saveNetwork(net, path, { precision: "float8" as "float16" }),
    Error,
    'precision must be "float32" or "float16", got "float8"',
  );
  await assertRejects(
    () => saveNetwork(net, path.replace(".ffw", ".json"), { precision: "float16" }),
    Error,
    "name the file .ffw",
  );
  net.dispose();
  await Deno.remove(path.replace("/weights.ffw", ""), { recursive: true });
});

Deno.test("a write that fails half-way (the file-size limit, as on a full disk) leaves the old file whole", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/weights.ffw`;
  const script = `${dir}/save.ts`;
  const weights = new URL("../lib/weights.ts", import.meta.url).href;
  const core = new URL("../lib/core/mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { saveNetwork } from "${weights}";
     import { FFNN } from "${core}";
     await saveNetwork(new FFNN([20, 10], { seed: 1 }), ${JSON.stringify(path)});
     console.log("small saved");
     await saveNetwork(new FFNN([784, 100], { seed: 1 }), ${JSON.stringify(path)});`,
  );
  // Writing past RLIMIT_FSIZE fails with EFBIG once SIGXFSZ is ignored, as a full disk does.
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: [
      "-c",
      `trap "" XFSZ; exec prlimit --fsize=65536 "$0" run -A "$1"`,
      Deno.execPath(),
      script,
    ],
  }).output();
  const [out, err] = [stdout, stderr].map((b) => new TextDecoder().decode(b));
  assertEquals(out, "small saved\n", err);
  assertEquals(code, 1, err);
  assertStringIncludes(err, "File too large");
  const net = await loadNetwork(path);
  assertEquals(net.dims, [20, 10]);
  net.dispose();
  assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
    "save.ts",
    "weights.ffw",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a binary weights file changed in any one byte, cut short, or with another header says so in one line", async () => {
  const net = await trainedNet();
  const path = `${await Deno.makeTempDir()}/weights.ffw`;
  await saveNetwork(net, path, { dataset: "mnist" });
  const good = await Deno.readFile(path);
  const headerLength = new DataView(good.buffer).getUint32(8, true);
  const start = 12 + headerLength;
  const offsets = [
    0, // the magic
    8, // the header's length
    9,
    14, // inside the header's JSON: its format, its options...
    40,
    Math.floor(start / 2),
    start - 1, // its padding (or its last character)
    start, // the first value
    Math.floor((start + good.length) / 2),
    good.length - 65, // the last value
    good.length - 1, // the checksum
  ];
  for (const offset of offsets) {
    await Deno.writeFile(path, changed(good, offset));
    const message = await oneLineError(() => loadNetwork(path), path);
    assert(/damaged|not an ff-notebooks|neither/.test(message), `offset ${offset}: ${message}`);
  }
  for (const length of [0, 7, 11, 30, start - 3, start, start + 5, good.length - 1]) {
    await Deno.writeFile(path, good.subarray(0, length));
    await oneLineError(() => loadNetwork(path), path);
  }
  await Deno.writeFile(path, good.subarray(0, good.length - 100));
  assertStringIncludes(await oneLineError(() => loadNetwork(path), path), "(cut short?)");
  // Another version, checksum and all: this library cannot read it, and says which it reads.
  const text = new TextDecoder().decode(good.subarray(12, start));
  const other = new TextEncoder().encode(text.replace('"version":1', '"version":7'));
  const rewritten = good.slice();
  rewritten.set(other, 12);
  rewritten.set(
    new TextEncoder().encode(await sha256(rewritten.subarray(0, good.length - 64))),
    good.length - 64,
  );
  await Deno.writeFile(path, rewritten);
  assertStringIncludes(
    await oneLineError(() => loadNetwork(path), path),
    `${path} is not an ff-notebooks weights file of version 1 (format ff-notebooks/weights, ` +
      "version 7)",
  );
  await Deno.writeFile(path, good);
  const loaded = await loadNetwork(path);
  assertEquals(parameterBytes(loaded), parameterBytes(net));
  loaded.dispose();
  net.dispose();
  await Deno.remove(path);
});

Deno.test("JSON weights: a changed character or a cut says so in one line; files from before checksums still load", async () => {
  const net = await trainedNet();
  const path = `${await Deno.makeTempDir()}/weights.json`;
  await saveNetwork(net, path);
  const good = await Deno.readTextFile(path);
  const parsed = JSON.parse(good);
  assertEquals(parsed.sha256.length, 64);
  const at = (needle: string) => good.indexOf(needle) + needle.length + 2;
  const offsets = [
    at('"dims":['),
    at('"learningRate":'),
    at('"data":"'), // a tensor's base64
    Math.floor(good.length / 2),
    good.length - 20, // the checksum itself
  ];
  for (const offset of offsets) {
    const c = good[offset];
    const edited = good.slice(0, offset) + (c === "1" ? "2" : c === "A" ? "B" : "1") +
      good.slice(offset + 1);
    assert(edited !== good);
    await Deno.writeTextFile(path, edited);
    await oneLineError(() => loadNetwork(path), path);
  }
  for (const length of [1, 100, Math.floor(good.length / 2), good.length - 1]) {
    await Deno.writeTextFile(path, good.slice(0, length));
    await oneLineError(() => loadNetwork(path), path);
  }
  // What saveNetwork wrote before checksums: version 2, no sha256. It loads, unchecked.
  const old = { ...await networkState(net), version: 2 };
  await Deno.writeTextFile(path, JSON.stringify(old));
  const loaded = await loadNetwork(path);
  assertEquals(parameterBytes(loaded), parameterBytes(net));
  loaded.dispose();
  // Even an old file's damage is named, never a raw "Failed to decode base64".
  old.variables[0].data = "not base64!";
  await Deno.writeTextFile(path, JSON.stringify(old));
  assertStringIncludes(
    await oneLineError(() => loadNetwork(path), path),
    "is damaged: a tensor's data is not base64",
  );
  net.dispose();
  await Deno.remove(path);
});
