// `deno task bench:gpu` (bench/gpu.sh's table) runs and prints what it promises, at a tiny size;
// no timing is checked here, only that each row got one.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { ignoreUnless, webgpuMissing } from "./shared.ts";

const script = new URL("../bench/gpu.ts", import.meta.url).pathname;

async function bench(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test("bench:gpu refuses bad flags in one line", async () => {
  const { code, err } = await bench("--images", "ten");
  assertEquals(code, 1);
  assertStringIncludes(err, 'bench:gpu: --images must be an integer >= 1, got "ten"');
  assertEquals(err.trim().split("\n").length, 1, err);
});

const webgpu = await webgpuMissing();
const tiny = ["--images", "10", "--batch-images", "10", "--epochs", "1"];

Deno.test({
  name: "bench:gpu names the adapter and times both steps on webgpu",
  ignore: ignoreUnless(webgpu === undefined, `webgpu (${webgpu})`),
  async fn() {
    const { code, out, err } = await bench("--backend", "webgpu", ...tiny);
    assertEquals(code, 0, err);
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    assertStringIncludes(out, `backend webgpu on ${adapter!.info.description}`);
    const rows = out.split("\n").filter((line) => /^\| the /.test(line));
    assertEquals(rows.length, 3, out);
    for (const row of rows) {
      const seconds = Number(row.match(/\| ([\d.]+) \|$/)?.[1]);
      assert(seconds > 0, row);
    }
    assertMatch(rows[2], /mini-batch epoch, \[784, 1000, 1000, 1000\] in batches of 100/);

    // bench/gpu.sh's guard: a software adapter is no GPU to time.
    const guarded = await bench("--backend", "webgpu", "--hardware-only", ...tiny);
    if (adapter!.info.isFallbackAdapter) {
      assertEquals(guarded.code, 1);
      assertStringIncludes(
        guarded.err,
        "(a fallback adapter: software, not a GPU): no GPU to time",
      );
    } else {
      assertEquals(guarded.code, 0, guarded.err);
    }
  },
});
