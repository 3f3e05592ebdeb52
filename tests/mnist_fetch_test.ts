import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import { MNIST_FILES } from "../lib/data/mnist.ts";
import { fetchMnist, MIRROR_ENV, MNIST_SHA256 } from "../lib/data/fetch.ts";
import { exists } from "./shared.ts";

const SHARED_MNIST = fileURLToPath(new URL("../../shared/data/mnist/", import.meta.url));
const sharedMissing = !exists(`${SHARED_MNIST}/SHA256SUMS`) && Deno.env.get("CI") !== "true";
if (sharedMissing) console.log(`ignoring the local-mirror tests: ${SHARED_MNIST} is absent`);

const NAMES = Object.values(MNIST_FILES);
const quiet = () => {};

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function withTempDirs(
  count: number,
  fn: (...dirs: string[]) => Promise<void>,
): Promise<void> {
  const dirs = await Promise.all(
    Array.from({ length: count }, () => Deno.makeTempDir({ prefix: "mnist_fetch_test_" })),
  );
  try {
    await fn(...dirs);
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function listDir(dir: string): string[] {
  return Array.from(Deno.readDirSync(dir), (entry) => entry.name).sort();
}

Deno.test({
  name: "the embedded sums are the published ones",
  ignore: sharedMissing,
  async fn() {
    const published = await Deno.readTextFile(`${SHARED_MNIST}/SHA256SUMS`);
    const sums = Object.fromEntries(
      published.trim().split("\n").map((line) => line.split(/\s+/).reverse()),
    );
    assertEquals(sums, { ...MNIST_SHA256 });
  },
});

Deno.test({
  name: "fetchMnist copies a local mirror, verified, and skips what is already there",
  ignore: sharedMissing,
  async fn() {
    await withTempDirs(1, async (root) => {
      const dir = `${root}/nested/mnist`;
      const lines: string[] = [];
      const first = await fetchMnist({ dir, mirror: SHARED_MNIST, log: (l) => lines.push(l) });
      assertEquals(first, { dir, fetched: NAMES, skipped: [], missing: [] });
      assertEquals(listDir(dir), [...NAMES].sort(), "no temporary files left");
      for (const name of NAMES) assertEquals(await sha256(`${dir}/${name}`), MNIST_SHA256[name]);
      assertEquals(lines.length, 4);
      assertStringIncludes(lines[0], "verified");

      const again = await fetchMnist({ dir, mirror: "/no/such/mirror", log: quiet });
      assertEquals(again, { dir, fetched: [], skipped: NAMES, missing: [] });
    });
  },
});

Deno.test({
  name: "fetchMnist reads the mirror from FF_MNIST_MIRROR, and never replaces a file",
  ignore: sharedMissing,
  async fn() {
    await withTempDirs(1, async (dir) => {
      const damaged = new Uint8Array([31, 139, 8]);
      await Deno.writeFile(`${dir}/${MNIST_FILES.testLabels}`, damaged);
      const before = Deno.env.get(MIRROR_ENV);
      Deno.env.set(MIRROR_ENV, SHARED_MNIST);
      try {
        const error = await assertRejects(
          () => fetchMnist({ dir, log: quiet }),
          Error,
          `${dir}/${MNIST_FILES.testLabels} is not MNIST's`,
        );
        assertStringIncludes(error.message, "if it is a damaged copy of MNIST's, delete it");
        assertEquals(listDir(dir), [MNIST_FILES.testLabels], "nothing fetched");
        assertEquals(await Deno.readFile(`${dir}/${MNIST_FILES.testLabels}`), damaged);
        // Deleted, it is fetched from the mirror the variable names.
        await Deno.remove(`${dir}/${MNIST_FILES.testLabels}`);
        assertEquals((await fetchMnist({ dir, log: quiet })).fetched, NAMES);
      } finally {
        if (before === undefined) Deno.env.delete(MIRROR_ENV);
        else Deno.env.set(MIRROR_ENV, before);
      }
      assertEquals(
        await sha256(`${dir}/${MNIST_FILES.testLabels}`),
        MNIST_SHA256[MNIST_FILES.testLabels],
      );
    });
  },
});

Deno.test({
  name: "fetchMnist writes nothing into a folder of other files, and names one of them",
  ignore: sharedMissing,
  async fn() {
    await withTempDirs(1, async (dir) => {
      await Deno.copyFile(
        `${SHARED_MNIST}/${MNIST_FILES.trainImages}`,
        `${dir}/${MNIST_FILES.trainImages}`,
      );
      await Deno.writeTextFile(`${dir}/notes.txt`, "mine");
      const error = await assertRejects(
        () => fetchMnist({ dir, mirror: SHARED_MNIST, log: quiet }),
        Error,
        `${dir}/notes.txt is not one of MNIST's files`,
      );
      assert(!error.message.includes("\n"), "one line");
      assertEquals(listDir(dir), [MNIST_FILES.trainImages, "notes.txt"].sort());
      // With every file there, the folder is only read: nothing to write, nothing refused.
      for (const name of NAMES) await Deno.copyFile(`${SHARED_MNIST}/${name}`, `${dir}/${name}`);
      const result = await fetchMnist({ dir, mirror: "/no/such/mirror", log: quiet });
      assertEquals(result.skipped, NAMES);
    });
  },
});

Deno.test({
  name: "fetchMnist keeps MNIST gzipped anew (told by its contents) and fills in the rest",
  ignore: sharedMissing,
  async fn() {
    await withTempDirs(1, async (dir) => {
      const contents = await gunzip(
        await Deno.readFile(`${SHARED_MNIST}/${MNIST_FILES.trainLabels}`),
      );
      const again = await gzip(contents);
      assert(again.length > 0);
      await Deno.writeFile(`${dir}/${MNIST_FILES.trainLabels}`, again);
      const result = await fetchMnist({ dir, mirror: SHARED_MNIST, log: quiet });
      assertEquals(result.skipped, [MNIST_FILES.trainLabels]);
      assertEquals(result.fetched.length, 3);
      assertEquals(
        await Deno.readFile(`${dir}/${MNIST_FILES.trainLabels}`),
        again,
        "left as it was",
      );
    });
  },
});

Deno.test({
  name: "fetchMnist rejects a corrupt mirror file and never gives it the final name",
  ignore: sharedMissing,
  async fn() {
    await withTempDirs(2, async (mirror, dir) => {
      for (const name of NAMES) await Deno.copyFile(`${SHARED_MNIST}/${name}`, `${mirror}/${name}`);
      const good = await Deno.readFile(`${mirror}/${MNIST_FILES.testImages}`);
      good[1000] ^= 0x01;
      await Deno.writeFile(`${mirror}/${MNIST_FILES.testImages}`, good);

      const error = await assertRejects(
        () => fetchMnist({ dir, mirror, log: quiet }),
        Error,
        MNIST_FILES.testImages,
      );
      assertStringIncludes(error.message, mirror);
      assertStringIncludes(error.message, "SHA-256");
      // The files before it were verified and kept; the bad one and any temporary are gone.
      assertEquals(
        listDir(dir),
        [
          MNIST_FILES.trainImages,
          MNIST_FILES.trainLabels,
        ].sort(),
      );
    });
  },
});

Deno.test("fetchMnist rejects a mirror of wrong files without writing anything", async () => {
  await withTempDirs(2, async (mirror, dir) => {
    for (const name of NAMES) await Deno.writeTextFile(`${mirror}/${name}`, "not mnist");
    const error = await assertRejects(
      () => fetchMnist({ dir, mirror, log: quiet }),
      Error,
      MNIST_FILES.trainImages,
    );
    assertStringIncludes(error.message, mirror);
    assertEquals(listDir(dir), []);
  });
});

Deno.test("fetchMnist names a mirror that lacks the files", async () => {
  await withTempDirs(2, async (mirror, dir) => {
    const error = await assertRejects(
      () => fetchMnist({ dir, mirror, log: quiet }),
      Error,
      `mirror ${mirror}`,
    );
    assertStringIncludes(error.message, MNIST_FILES.trainImages);
    assertEquals(listDir(dir), []);
  });
});

Deno.test({
  name: "fetchMnist downloads from an http mirror, and gives up on one that is silent",
  ignore: sharedMissing,
  async fn() {
    // The silent mirror answers nothing, or sends headers and a few bytes and then nothing, until
    // the test ends or 20 s have passed: a test that fails cannot hang.
    const silence = Promise.withResolvers<void>();
    const bound = setTimeout(silence.resolve, 20_000);
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: quiet }, async (req) => {
      const { pathname } = new URL(req.url);
      if (pathname.startsWith("/slow/")) {
        await silence.promise;
        return new Response("too late", { status: 503 });
      }
      if (pathname.startsWith("/stall/")) {
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new Uint8Array(10));
            await silence.promise;
            controller.close();
          },
        });
        return new Response(body);
      }
      const name = pathname.replace("/mnist/", "");
      if (!(NAMES as string[]).includes(name)) return new Response("no", { status: 404 });
      return new Response(await Deno.readFile(`${SHARED_MNIST}/${name}`));
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    try {
      await withTempDirs(1, async (dir) => {
        const result = await fetchMnist({ dir, mirror: `${base}/mnist`, log: quiet });
        assertEquals(result.fetched, NAMES);
        assertEquals(listDir(dir), [...NAMES].sort());
      });
      await withTempDirs(1, async (dir) => {
        await assertRejects(
          () => fetchMnist({ dir, mirror: `${base}/missing/`, log: quiet }),
          Error,
          "HTTP 404",
        );
        const slow = await assertRejects(
          () => fetchMnist({ dir, mirror: `${base}/slow/`, log: quiet, timeoutMs: 100 }),
          Error,
          "no answer within 100 ms",
        );
        assertStringIncludes(slow.message, `${base}/slow/`);
        const stalled = await assertRejects(
          () => fetchMnist({ dir, mirror: `${base}/stall/`, log: quiet, timeoutMs: 100 }),
          Error,
          "no more bytes after 10 within 100 ms",
        );
        assertStringIncludes(stalled.message, `${base}/stall/`);
        assertEquals(listDir(dir), []);
      });
    } finally {
      silence.resolve();
      clearTimeout(bound);
      await server.shutdown();
    }
  },
});
