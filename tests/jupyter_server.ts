/**
 * Test helper: a real classic Jupyter Notebook server (Debian's `jupyter-notebook`) on a free
 * loopback port, with a token and the repository's Deno kernelspec, serving copies of the
 * notebooks from a folder beside notebooks/ (so that their `../lib/` imports resolve, and a
 * "Run All" saves into the copies, never into the committed notebooks).
 *
 * `stop` shuts down every kernel, then the server, then ends any kernel process still running
 * with the server's connection files: nothing is left behind, even after a failed test.
 *
 * @module
 */
import { findOnPath } from "../tools/chromium.ts";
import { JUPYTER_DIR } from "../tools/notebooks.ts";
import { sleep } from "./cdp.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Why no notebook server can run here, or undefined when it can.
 *
 * @example
 * ```ts
 * const missing = notebookServerMissing(); // "jupyter-notebook is not on PATH (...)"
 * ```
 */
export function notebookServerMissing(): string | undefined {
  if (!findOnPath(["jupyter-notebook"])) {
    return "jupyter-notebook is not on PATH (Debian: apt-get install jupyter-notebook)";
  }
  return undefined;
}

/** A running server. */
export interface NotebookServer {
  /** `http://127.0.0.1:PORT/`. */
  base: string;
  token: string;
  /** The folder it serves: copies of the notebooks, by file name. */
  dir: string;
  /** The page of notebook `name` (a file name in `dir`), token included. */
  notebookUrl(name: string): string;
  /** A request to the server's REST API, e.g. `api("api/sessions")`. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Shuts down every kernel the server runs. */
  shutdownKernels(): Promise<void>;
  /** The server's last lines of log. */
  log: string[];
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function drain(stream: ReadableStream<Uint8Array>, log: string[]): Promise<void> {
  return (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      log.push(...chunk.split("\n").filter((line) => line.trim() !== ""));
      log.splice(0, Math.max(0, log.length - 40));
    }
  })().catch(() => {});
}

/**
 * Pids of processes whose command line mentions `text` (the kernels of one runtime folder), or
 * none where `pgrep` is missing. (Reading /proc ourselves would take --allow-all.)
 */
async function processesMentioning(text: string): Promise<number[]> {
  try {
    const { stdout } = await new Deno.Command("pgrep", { args: ["-f", "--", text], stderr: "null" })
      .output();
    return new TextDecoder().decode(stdout).split("\n").filter((line) => /^\d+$/.test(line))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts `jupyter-notebook` serving copies of `notebooks` (paths), with `env` added to the
 * environment its kernels inherit (e.g. `FF_QUICK=1`), and waits until it answers.
 */
export async function startNotebookServer(
  notebooks: string[],
  env: Record<string, string> = {},
): Promise<NotebookServer> {
  const dir = await Deno.makeTempDir({ dir: ROOT, prefix: ".nbtest-" });
  const home = await Deno.makeTempDir({ prefix: "ff-jupyter-" });
  for (const path of notebooks) await Deno.copyFile(path, `${dir}/${path.replace(/^.*\//, "")}`);
  // The committed full-size runs beside the notebooks, where notebooks 04 and 06 read them.
  const runs = new URL("../notebooks/runs", import.meta.url).pathname;
  if (await Deno.stat(runs).then(() => true, () => false)) await Deno.symlink(runs, `${dir}/runs`);
  const token = crypto.randomUUID().replaceAll("-", "");
  const port = freePort();
  const base = `http://127.0.0.1:${port}/`;
  const runtime = `${home}/runtime`;
  const log: string[] = [];
  const process = new Deno.Command("jupyter-notebook", {
    args: [
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--NotebookApp.token=${token}`,
      `--notebook-dir=${dir}`,
      // CI runs as root, which the server refuses without this.
      "--allow-root",
    ],
    env: {
      ...env,
      // The repository's kernelspec first; the rest of Jupyter's state in a folder of our own.
      JUPYTER_PATH: JUPYTER_DIR,
      JUPYTER_CONFIG_DIR: `${home}/config`,
      JUPYTER_DATA_DIR: `${home}/data`,
      JUPYTER_RUNTIME_DIR: runtime,
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const drained = Promise.all([drain(process.stdout, log), drain(process.stderr, log)]);
  let exited = false;
  const status = process.status.then((s) => {
    exited = true;
    return s;
  });

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { Authorization: `token ${token}`, ...(init.headers ?? {}) },
    });
  const shutdownKernels = async () => {
    const response = await api("api/kernels");
    const kernels = await response.json() as { id: string }[];
    for (const { id } of kernels) {
      await (await api(`api/kernels/${id}`, { method: "DELETE" })).body?.cancel();
    }
  };
  const stop = async () => {
    try {
      if (!exited) {
        await shutdownKernels().catch(() => {});
        await api("api/shutdown", { method: "POST" }).then((r) => r.body?.cancel()).catch(() => {});
        if (!(await Promise.race([status.then(() => true), sleep(15_000).then(() => false)]))) {
          process.kill("SIGKILL");
        }
      }
      await status;
      // Kernels left running hold the server's output pipes open: end them before draining.
      for (const pid of await processesMentioning(runtime)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // ended meanwhile
        }
      }
      await drained;
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  };

  const server: NotebookServer = {
    base,
    token,
    dir,
    notebookUrl: (name) => `${base}notebooks/${encodeURIComponent(name)}?token=${token}`,
    api,
    shutdownKernels,
    log,
    stop,
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error(`jupyter-notebook exited:\n${log.join("\n")}`);
      const ok = await api("api/status").then(async (r) => {
        await r.body?.cancel();
        return r.ok;
      }).catch(() => false);
      if (ok) return server;
      if (Date.now() > deadline) {
        throw new Error(`jupyter-notebook did not answer within 60 s:\n${log.join("\n")}`);
      }
      await sleep(250);
    }
  } catch (e) {
    await stop();
    throw e;
  }
}
