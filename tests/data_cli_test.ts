// The data cases where users meet them, as real processes: `deno task data` and `deno task train`
// leave the user's folders as they were, tell the dataset from its files, and give up on a mirror
// that stalls, each with one line.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { IMAGE_SIZE, MNIST_FILES } from "../lib/data/mnist.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const root = new URL("..", import.meta.url).pathname;
const mnistDir = sharedPath("data/mnist");

/** `deno task NAME ARGS` in the project, as a user types it. */
async function task(name: string, args: string[], env: Record<string, string> = {}) {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: root,
    env: { FF_MNIST_MIRROR: "", ...env },
  }).output();
  const lines = new TextDecoder().decode(stderr).trim().split("\n");
  return { code, lines };
}

/** Every file under `dir` with its contents, to compare before and after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const bytes = await Deno.readFile(`${dir}/${entry.name}`);
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    files[entry.name] = btoa(String.fromCharCode(...new Uint8Array(digest)));
  }
  return files;
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function idx(dims: number[], data: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x0800 + dims.length);
  dims.forEach((dim, i) => view.setUint32(4 + 4 * i, dim));
  bytes.set(data, 4 + 4 * dims.length);
  return bytes;
}

/**
 * A small IDX dataset of the user's whose statistics are Fashion-MNIST's (half the pixels 0, the
 * rest 146: mean 0.286), under MNIST's file names.
 */
async function fashionLikeFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "data_cli_test_" });
  const images = (count: number) =>
    Uint8Array.from({ length: count * IMAGE_SIZE }, (_, i) => i % IMAGE_SIZE < 392 ? 0 : 146);
  const files = {
    [MNIST_FILES.trainImages]: idx([20, 28, 28], images(20)),
    [MNIST_FILES.trainLabels]: idx([20], Array.from({ length: 20 }, (_, i) => i % 10)),
    [MNIST_FILES.testImages]: idx([10, 28, 28], images(10)),
    [MNIST_FILES.testLabels]: idx([10], Array.from({ length: 10 }, (_, i) => i)),
  };
  for (const [name, bytes] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, await gzip(bytes));
  }
  return dir;
}

const TINY = ["--epochs", "1", "--layers", "10", "--train-size", "100"];

Deno.test("train on a folder of another dataset stops with one line and changes nothing", async () => {
  const dir = await fashionLikeFolder();
  const out = `${dir}.run`;
  try {
    const before = await snapshot(dir);
    for (const args of [["--data", dir], ["--data", dir, "--dataset", "mnist"]]) {
      const { code, lines } = await task("train", [...args, "--out", out, ...TINY]);
      assertEquals(code, 1);
      assertEquals(lines.length, 1, lines.join("\n"));
      assertStringIncludes(lines[0], `--data ${dir} holds Fashion-MNIST`);
      assertStringIncludes(lines[0], "pass --dataset fashion-mnist");
    }
    // Without one of its files, the folder is still the user's: nothing is fetched into it.
    await Deno.remove(`${dir}/${MNIST_FILES.testLabels}`);
    const { code, lines } = await task("train", ["--data", dir, "--out", out, ...TINY], {
      FF_MNIST_MIRROR: mnistDir ?? "/no/such/mirror",
    });
    assertEquals(code, 1);
    assertEquals(lines.length, 1, lines.join("\n"));
    assertStringIncludes(lines[0], `${dir}/${MNIST_FILES.trainImages} is not MNIST's`);
    assertStringIncludes(lines[0], "never replaces a file: name another folder");
    delete before[MNIST_FILES.testLabels];
    assertEquals(await snapshot(dir), before);
    await Deno.stat(out).then(() => assert(false, `${out} was made`), () => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "train --dataset fashion-mnist on MNIST stops with one line naming --dataset mnist",
  ignore: ignoreUnless(mnistDir, "../shared/data/mnist"),
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "data_cli_test_" });
    try {
      const { code, lines } = await task("train", [
        "--dataset",
        "fashion-mnist",
        "--data",
        mnistDir!,
        "--out",
        `${out}/run`,
        ...TINY,
      ]);
      assertEquals(code, 1);
      assertEquals(lines, [
        `train: --data ${mnistDir} holds MNIST (told by its files' SHA-256), not Fashion-MNIST: ` +
        `pass --dataset mnist, or a --data folder of Fashion-MNIST`,
      ]);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("deno task data leaves a folder of the user's alone, naming a file in it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "data_cli_test_" });
  try {
    await Deno.writeTextFile(`${dir}/thesis.tex`, "mine");
    const { code, lines } = await task("data", ["--dir", dir, "--mirror", "/no/such/mirror"]);
    assertEquals(code, 1);
    assertEquals(lines.length, 1, lines.join("\n"));
    assertStringIncludes(lines[0], `data: ${dir}/thesis.tex is not one of MNIST's files`);
    assertEquals(Object.keys(await snapshot(dir)), ["thesis.tex"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a mirror that sends headers and then stalls ends deno task data and train", async () => {
  // Stalls until the test ends, or 30 s at most: a failing test cannot hang.
  const silence = Promise.withResolvers<void>();
  const bound = setTimeout(silence.resolve, 30_000);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new Uint8Array([31, 139]));
            await silence.promise;
            controller.close();
          },
        }),
      ),
  );
  const mirror = `http://127.0.0.1:${server.addr.port}/mnist/`;
  const dir = await Deno.makeTempDir({ prefix: "data_cli_test_" });
  try {
    const data = await task("data", ["--dir", `${dir}/mnist`, "--mirror", mirror]);
    assertEquals(data.code, 1);
    assertEquals(data.lines.length, 1, data.lines.join("\n"));
    assertStringIncludes(data.lines[0], `from mirror ${mirror}: no more bytes after 2 within`);
    const train = await task("train", ["--data", `${dir}/mnist`, "--out", `${dir}/run`, ...TINY], {
      FF_MNIST_MIRROR: mirror,
    });
    assertEquals(train.code, 1);
    assertEquals(train.lines.length, 1, train.lines.join("\n"));
    assertStringIncludes(train.lines[0], "no more bytes after 2 within");
    assertEquals(Object.keys(await snapshot(`${dir}/mnist`)), [], "nothing half-written");
  } finally {
    silence.resolve();
    clearTimeout(bound);
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
