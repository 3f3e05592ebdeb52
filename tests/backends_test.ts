// The backends' fast paths and workarounds compute what tfjs's own kernels compute.
import { TFJS_CPU_KERNELS } from "./tfjs_kernels.ts"; // first: before lib/ replaces them
import { assert, assertEquals, assertRejects } from "@std/assert";
import { setBackend, tf } from "../lib/mod.ts";
import { registerBlasBackend } from "../lib/backends/blas.ts";

const random = (shape: number[], seed: number) => tf.randomUniform(shape, -2, 2, "float32", seed);

/** What each op gives on one backend, as plain numbers. */
async function compute(backend: string, ops: (() => tf.Tensor)[]): Promise<number[][]> {
  await setBackend(backend);
  return ops.map((op) => tf.tidy(() => Array.from(op().dataSync())));
}

const OPS: [string, () => tf.Tensor][] = [
  ["row broadcast add", () => tf.add(random([30, 20], 1), random([20], 2))],
  ["column broadcast mul", () => tf.mul(random([30, 20], 1), random([30, 1], 3))],
  ["outer product by broadcast", () => tf.mul(random([30, 1], 4), random([1, 20], 5))],
  ["same-shape sub", () => tf.sub(random([30, 20], 6), random([30, 20], 7))],
  ["scalar div", () => tf.div(random([30, 20], 8), 3)],
  ["column slice", () => tf.slice(random([30, 20], 9), [2, 5], [20, 11])],
  ["row slice (a view)", () => tf.slice(random([30, 20], 10), [4, 0], [10, 20])],
  ["concat of columns", () => tf.concat([random([30, 4], 11), random([30, 9], 12)], 1)],
  ["rows gathered", () => tf.gather(random([30, 20], 26), tf.tensor1d([29, 0, 7, 7, 3], "int32"))],
  ["sum over rows", () => tf.sum(random([30, 20], 13), 0)],
  ["mean over rows, kept", () => tf.mean(random([30, 20], 14), 0, true)],
  ["sum over columns", () => tf.sum(random([30, 20], 15), 1)],
  ["relu with special values", () => tf.relu(tf.tensor([-Infinity, -0, 0, NaN, 2, -3, Infinity]))],
  ["softmax of rows", () => tf.softmax(tf.mul(random([30, 10], 24), 20))],
  [
    "fused product, transposed, with bias",
    () =>
      tf.fused.matMul({
        a: random([30, 20], 16),
        b: random([10, 20], 17),
        transposeB: true,
        bias: random([10], 18),
      }),
  ],
  [
    "fused product with a full bias and relu",
    () =>
      tf.fused.matMul({
        a: random([30, 1], 19),
        b: random([1, 10], 20),
        bias: random([30, 10], 21),
        activation: "relu",
      }),
  ],
  [
    "product, first operand transposed",
    () => tf.matMul(random([20, 30], 22), random([20, 10], 23), true, false),
  ],
];

const backends = ["cpu", "wasm", ...(registerBlasBackend().ok ? ["blas"] : [])];

Deno.test("cpu, wasm and blas agree: each one's fast paths and workarounds against the others", async () => {
  // wasm runs tfjs's own kernels for all but the products, cpu and blas the fast paths for all
  // but the products, blas its own products: every kernel here meets an independent one.
  const expected = OPS.map(([, op]) => op);
  const results = new Map<string, number[][]>();
  for (const backend of backends) results.set(backend, await compute(backend, expected));
  const reference = results.get("cpu")!;
  OPS.forEach(([name], i) => {
    for (const backend of backends) {
      const got = results.get(backend)![i];
      assertEquals(got.length, reference[i].length, `${name} on ${backend}`);
      got.forEach((v, j) => {
        const e = reference[i][j];
        const same = Number.isNaN(e)
          ? Number.isNaN(v)
          : v === e || Math.abs(v - e) <= 1e-5 * Math.max(1, Math.abs(e));
        assert(same, `${name} on ${backend}: [${j}] = ${v}, cpu says ${e}`);
      });
    }
  });
  await setBackend("cpu");
});

Deno.test("the cpu fast paths give the values worked out by hand", async () => {
  await setBackend("cpu");
  tf.tidy(() => {
    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    assertEquals(tf.add(x, tf.tensor1d([10, 20, 30])).arraySync(), [[11, 22, 33], [14, 25, 36]]);
    assertEquals(tf.mul(x, tf.tensor2d([[2], [3]])).arraySync(), [[2, 4, 6], [12, 15, 18]]);
    assertEquals(tf.slice(x, [0, 1], [2, 2]).arraySync(), [[2, 3], [5, 6]]);
    assertEquals(tf.concat2d([x, x], 1).arraySync(), [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]]);
    assertEquals(tf.sum(x, 0).arraySync(), [5, 7, 9]);
    assertEquals(tf.gather(x, tf.tensor1d([1, 1, 0], "int32")).arraySync(), [
      [4, 5, 6],
      [4, 5, 6],
      [1, 2, 3],
    ]);
    assertEquals(tf.mean(x, 0).arraySync(), [2.5, 3.5, 4.5]);
    assertEquals(tf.relu(tf.tensor1d([-1, 0, 2])).arraySync(), [0, 0, 2]);
  });
});

Deno.test("the softmax fast path gives tfjs's own kernel's bits", async () => {
  await setBackend("cpu");
  const tfjsSoftmax = TFJS_CPU_KERNELS.get(tf.Softmax)!;
  assert(tfjsSoftmax !== tf.getKernel(tf.Softmax, "cpu").kernelFunc, "compared with itself");
  const cases = [
    tf.mul(random([100, 10], 25), 30),
    // Hard negatives rule out the true label with -Infinity; a NaN row stays NaN.
    tf.tensor2d([[-Infinity, 1, 2.5, -Infinity], [0, 0, 0, 0], [NaN, 1, 2, 3], [88, -88, 1e-8, 3]]),
  ];
  for (const logits of cases) {
    const ours = tf.softmax(logits as tf.Tensor2D);
    const theirs = tf.engine().makeTensorFromTensorInfo(
      tfjsSoftmax({
        inputs: { logits },
        backend: tf.backend(),
        attrs: { dim: -1 },
      }) as tf.TensorInfo,
    );
    assertEquals(
      new Uint32Array(ours.dataSync().buffer),
      new Uint32Array(theirs.dataSync().buffer),
    );
    tf.dispose([logits, ours, theirs]);
  }
});

Deno.test("setBackend refuses, in one line, what it cannot start", async () => {
  await assertRejects(() => setBackend("tpu"), Error, 'unknown backend "tpu": choose one of');
  await setBackend("cpu");
});

Deno.test('setBackend("webgpu") with no GPU adapter says, in one line, what to install', async () => {
  const mod = new URL("../lib/backends/mod.ts", import.meta.url).href;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { setBackend } from "${mod}";
      await setBackend("webgpu").then(() => console.log("started"), (e) => console.log(e.message));`,
    ],
    // Vulkan alone, with no driver to find: no adapter, GPU or not.
    env: {
      DENO_WEBGPU_BACKEND: "vulkan",
      VK_DRIVER_FILES: "/nonexistent.json",
      VK_ICD_FILENAMES: "/nonexistent.json",
    },
    stderr: "null",
  }).output();
  assertEquals(
    new TextDecoder().decode(stdout),
    'backend "webgpu" found no GPU adapter: install the GPU\'s Vulkan driver (without a GPU, ' +
      "Debian's mesa-vulkan-drivers gives a software one), or choose another backend\n",
  );
});

Deno.test("the core on tfjs's own backends: cpu trains and predicts, wasm as it comes is refused in one line, wasm set up by setBackend works", async () => {
  const core = new URL("../lib/core/mod.ts", import.meta.url).href;
  const backends = new URL("../lib/backends/mod.ts", import.meta.url).href;
  const run = async (setup: string) => {
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { combineXY, FFNN, negativeLabels, tf } from "${core}";
        ${setup}
        const x = tf.tensor2d([[0.1, 0.9, 0.3], [0.8, 0.2, 0.5], [0.4, 0.4, 0.9], [0.7, 0.1, 0.2]]);
        const y = [0, 1, 2, 1];
        const net = new FFNN([13, 6, 6], { epochs: 3, seed: 1, readout: { fromLayer: 0 } });
        try {
          await net.train(combineXY(x, y), combineXY(x, negativeLabels(y, { seed: 1 })));
          await net.trainMiniBatch(x, y, { batchSize: 2, epochs: 1 });
          console.log(tf.getBackend(), Array.from(net.predict(x).dataSync()).length);
        } catch (e) {
          console.log(tf.getBackend(), e.message);
        }`,
      ],
      stderr: "null",
    }).output();
    return new TextDecoder().decode(stdout).trim().split("\n").at(-1);
  };
  assertEquals(await run(""), "cpu 4");
  const wasm = "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
  const own = await run(`const wasm = await import("${wasm}");
    wasm.setWasmPaths(new URL(".", import.meta.resolve("${wasm}")).href);
    await tf.setBackend("wasm");`);
  assertEquals(
    own,
    'wasm the backend "wasm" computes the fused matrix products this library uses wrongly (as ' +
      'tfjs\'s own wasm backend does): for wasm, set it with setBackend("wasm") from ' +
      'lib/backends/mod.ts, which works around them; or use tfjs\'s "cpu" backend',
  );
  assertEquals(
    await run(`const { setBackend } = await import("${backends}"); await setBackend("wasm");`),
    "wasm 4",
  );
});

Deno.test("FF_OPENBLAS naming a missing file stops auto and blas with one line", async () => {
  const named = "/no/such/dir/libopenblas.so.0";
  const out = await Deno.makeTempDir({ prefix: "backends_test_" });
  for (const backend of ["auto", "blas"]) {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "train", "--backend", backend, "--epochs", "1", "--out", `${out}/run`],
      cwd: new URL("..", import.meta.url).pathname,
      env: { FF_OPENBLAS: named },
    }).output();
    const lines = new TextDecoder().decode(stderr).trim().split("\n");
    assertEquals([code, lines.length], [1, 1], lines.join("\n"));
    assert(
      lines[0].includes(`FF_OPENBLAS names ${named}, which does not exist: correct the path`),
      lines[0],
    );
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test("--backend tensorflow, not installed, says so in one line and leaves deno.lock as it was", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const lock = await Deno.readFile(`${root}/deno.lock`);
  const out = await Deno.makeTempDir({ prefix: "backends_test_" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        "train",
        "--backend",
        "tensorflow",
        "--epochs",
        "1",
        "--out",
        `${out}/run`,
      ],
      cwd: root,
    }).output();
    const lines = new TextDecoder().decode(stderr).trim().split("\n");
    assertEquals([code, lines.length], [1, 1], lines.join("\n"));
    assert(lines[0].startsWith('train: backend "tensorflow" is not installed'), lines[0]);
    assert(lines[0].includes("see README: Backends"), lines[0]);
    assertEquals(await Deno.readFile(`${root}/deno.lock`), lock, "deno.lock was rewritten");
  } finally {
    // A failure must not leave the tracked lockfile changed.
    await Deno.writeFile(`${root}/deno.lock`, lock);
    await Deno.remove(out, { recursive: true });
  }
});
