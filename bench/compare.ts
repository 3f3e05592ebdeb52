/**
 * `deno task bench:compare`: our full-batch training beside the PyTorch reference
 * (../shared/reference/blog_reference.py, the post's code) on the same machine, one after the
 * other, at the same sizes: seconds per epoch (overall and per layer), their ratios, training
 * and wall seconds (wall: the whole command, loading and scoring included), peak memory, errors.
 *
 *   deno task bench:compare [--epochs 20] [--sizes 10000,50000] [--backend blas]
 *                           [--reference-malloc kept|system]
 *
 * `--reference-malloc kept` (the default) runs the reference with glibc's malloc told to keep the
 * memory it frees (GLIBC_TUNABLES: no mmap, no trimming). Why: PyTorch makes its large
 * activations afresh every epoch, and by default glibc hands such blocks back to the kernel on
 * free, so every epoch pays a page fault per 4 KiB to touch them again; on virtual machines where
 * that is slow (here ~14 µs a page) it makes the reference several times slower, which would flatter
 * us. `system` runs it as installed.
 *
 * Needs /usr/bin/python3 with torch (Debian: apt-get install python3-torch) and the reference
 * script beside the repository; says so and stops when either is missing.
 *
 * @module
 */
import { parseArgs } from "node:util";

const flags = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "20" },
    sizes: { type: "string", default: "10000,50000" },
    backend: { type: "string", default: "blas" },
    "reference-malloc": { type: "string", default: "kept" },
  },
}).values;
const epochs = Number(flags.epochs);
const sizes = flags.sizes.split(",").map(Number);
const root = new URL("..", import.meta.url).pathname;
const reference = new URL("../../shared/reference/blog_reference.py", import.meta.url).pathname;
const mnist = new URL("../../shared/data/mnist", import.meta.url).pathname;
const python = "/usr/bin/python3";
const mallocEnv: Record<string, Record<string, string>> = {
  kept: { GLIBC_TUNABLES: "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776" },
  system: {},
};
const referenceMalloc = flags["reference-malloc"];
const referenceEnv = mallocEnv[referenceMalloc];
if (referenceEnv === undefined) {
  console.error(`--reference-malloc must be kept or system, got ${referenceMalloc}`);
  Deno.exit(1);
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(command, { args, env, cwd: root })
    .output();
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${err.slice(-500)}`);
  return { out: new TextDecoder().decode(stdout), err };
}

try {
  await Deno.stat(reference);
  await run(python, ["-c", "import torch"]);
} catch (e) {
  console.error(
    `bench:compare needs torch and ${reference}: ${(e as Error).message.slice(0, 200)}`,
  );
  Deno.exit(1);
}

// The reference run as it is, with two measurements added from outside: each layer's
// Layer.train wall time (perf_counter), and peak resident memory (ru_maxrss, KiB on Linux).
const measured = `
import json, resource, runpy, sys, time
sys.argv = sys.argv[1:]
reference = runpy.run_path(sys.argv[0], run_name="reference")
Layer, train, seconds = reference["Layer"], reference["Layer"].train, []
def timed(self, *args):
    start = time.perf_counter()
    result = train(self, *args)
    seconds.append(time.perf_counter() - start)
    return result
Layer.train = timed
reference["main"]()
print("layers", json.dumps(seconds), file=sys.stderr)
print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
`;

const perLayer = (seconds: number[]) => seconds.map((s) => s.toFixed(3)).join(" / ");

console.log(`PyTorch reference with malloc ${referenceMalloc}`);
console.log(
  "| images | epochs | ours s/epoch/layer | PyTorch s/epoch/layer | ratio | ours by layer | PyTorch by layer | ratio by layer | ours training s | PyTorch training s | ours wall s | PyTorch wall s | ours peak MiB | PyTorch peak MiB | ours training error | PyTorch training error | ours test error | PyTorch test error |",
);
console.log(`|${"---|".repeat(18)}`);
for (const size of sizes) {
  const out = await Deno.makeTempDir();
  let started = performance.now();
  await run(Deno.execPath(), [
    "run",
    "-A",
    "cli/train.ts",
    "--data",
    mnist,
    "--train-size",
    String(size),
    "--epochs",
    String(epochs),
    "--backend",
    flags.backend,
    "--out",
    out,
  ]);
  const ourWall = (performance.now() - started) / 1000;
  const ours = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
  started = performance.now();
  const torch = await run(
    python,
    ["-c", measured, reference, mnist, String(size), String(epochs)],
    { OMP_NUM_THREADS: "2", ...referenceEnv },
  );
  const theirWall = (performance.now() - started) / 1000;
  const theirs = JSON.parse(torch.out);
  const theirPeak = Number(torch.err.match(/peak (\d+)/)?.[1]) / 1024;
  const theirLayers = (JSON.parse(torch.err.match(/layers (.*)/)?.[1] ?? "[]") as number[])
    .map((s) => s / epochs);
  const ourLayers: number[] = ours.seconds_per_epoch_by_layer;
  const ratio = ours.seconds_per_epoch_per_layer / theirs.seconds_per_epoch_per_layer;
  const ratios = ourLayers.map((s, layer) => s / theirLayers[layer]);
  console.log(
    `| ${size} | ${epochs} | ${ours.seconds_per_epoch_per_layer.toFixed(3)} | ${
      theirs.seconds_per_epoch_per_layer.toFixed(3)
    } | ${ratio.toFixed(2)} | ${perLayer(ourLayers)} | ${perLayer(theirLayers)} | ${
      ratios.map((r) => r.toFixed(2)).join(" / ")
    } | ${ours.train_seconds.toFixed(0)} | ${theirs.train_seconds.toFixed(0)} | ${
      ourWall.toFixed(0)
    } | ${theirWall.toFixed(0)} | ${ours.peak_memory_mib?.toFixed(0)} | ${theirPeak.toFixed(0)} | ${
      ours.train_error.toFixed(4)
    } | ${theirs.train_error.toFixed(4)} | ${ours.test_error.toFixed(4)} | ${
      theirs.test_error.toFixed(4)
    } |`,
  );
  await Deno.remove(out, { recursive: true });
}
