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
  name: "fetchMnist reads the mirror from FF_MNIST_MIRROR and replaces a corrupt file",
  ignore: sharedMissing,
  async fn() {
    await withTempDirs(1, async (dir) => {
      await Deno.writeFile(`${dir}/${MNIST_FILES.testLabels}`, new Uint8Array([31, 139, 8]));
      const before = Deno.env.get(MIRROR_ENV);
      Deno.env.set(MIRROR_ENV, SHARED_MNIST);
      try {
        const lines: string[] = [];
        const result = await fetchMnist({ dir, log: (l) => lines.push(l) });
        assertEquals(result.fetched, NAMES);
        assertStringIncludes(lines.join("\n"), "wrong SHA-256");
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
  name: "fetchMnist downloads from an http mirror, and gives up fast on one that never answers",
  ignore: sharedMissing,
  async fn() {
    const neverAnswer = Promise.withResolvers<void>();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: quiet }, async (req) => {
      const { pathname } = new URL(req.url);
      if (pathname.startsWith("/slow/")) {
        await neverAnswer.promise;
        return new Response("too late", { status: 503 });
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
        const error = await assertRejects(
          () => fetchMnist({ dir, mirror: `${base}/slow/`, log: quiet, connectTimeoutMs: 100 }),
          Error,
          "no answer within 100 ms",
        );
        assertStringIncludes(error.message, `${base}/slow/`);
        assert(listDir(dir).length === 0);
      });
    } finally {
      neverAnswer.resolve();
      await server.shutdown();
    }
  },
});
