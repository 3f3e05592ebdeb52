/**
 * `deno task bench:compare`: our full-batch training beside the PyTorch reference
 * (../shared/reference/blog_reference.py, the post's code) on the same machine, one after the
 * other, at the same sizes: seconds per epoch per layer, their ratio, peak memory, errors.
 *
 *   deno task bench:compare [--epochs 20] [--sizes 10000,50000] [--backend blas]
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
  },
}).values;
const epochs = Number(flags.epochs);
const sizes = flags.sizes.split(",").map(Number);
const root = new URL("..", import.meta.url).pathname;
const reference = new URL("../../shared/reference/blog_reference.py", import.meta.url).pathname;
const mnist = new URL("../../shared/data/mnist", import.meta.url).pathname;
const python = "/usr/bin/python3";

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

// The reference measured with resource's ru_maxrss (peak resident memory, KiB on Linux).
const withPeak =
  "import resource, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); " +
  "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)";

console.log(
  "| images | epochs | ours s/epoch/layer | PyTorch s/epoch/layer | ratio | ours peak MiB | PyTorch peak MiB | ours test error | PyTorch test error |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const size of sizes) {
  const out = await Deno.makeTempDir();
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
  const ours = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
  const torch = await run(
    python,
    ["-c", withPeak, reference, mnist, String(size), String(epochs)],
    {
      OMP_NUM_THREADS: "2",
    },
  );
  const theirs = JSON.parse(torch.out);
  const theirPeak = Number(torch.err.match(/peak (\d+)/)?.[1]) / 1024;
  const ratio = ours.seconds_per_epoch_per_layer / theirs.seconds_per_epoch_per_layer;
  console.log(
    `| ${size} | ${epochs} | ${ours.seconds_per_epoch_per_layer.toFixed(3)} | ${
      theirs.seconds_per_epoch_per_layer.toFixed(3)
    } | ${ratio.toFixed(2)} | ${ours.peak_memory_mib?.toFixed(0)} | ${theirPeak.toFixed(0)} | ${
      ours.test_error.toFixed(4)
    } | ${theirs.test_error.toFixed(4)} |`,
  );
  await Deno.remove(out, { recursive: true });
}
