/**
 * Puts the four MNIST files into a folder, from a mirror you name (a local folder or a URL) or
 * else from the usual public mirrors, each checked against its published SHA-256 before it takes
 * its final name: an interrupted or corrupt download never leaves a file that looks valid.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fetchMnist } from "./fetch.ts";
 * // A local folder as the mirror (here the one `deno task data` filled).
 * const dir = await Deno.makeTempDir();
 * const result = await fetchMnist({ dir, mirror: "data/mnist", log: () => {} });
 * assertEquals(result.fetched.length, 4); // each checked against its published SHA-256
 * ```
 *
 * @module
 */
import { readEnv } from "../env.ts";
import { MNIST_FILES, type MnistFileName } from "./mnist.ts";

/** The published SHA-256 of each file (their MD5 sums are the ones torchvision pins). */
export const MNIST_SHA256: Readonly<Record<MnistFileName, string>> = {
  "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
  "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
  "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
  "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
};

/**
 * Tried in order when no mirror is named: the S3 bucket torchvision downloads from (the original
 * yann.lecun.com site now refuses robots), then Google's copy that TensorFlow used.
 */
export const PUBLIC_MIRRORS: readonly string[] = [
  "https://ossci-datasets.s3.amazonaws.com/mnist/",
  "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/** The environment variable that names a mirror when no `mirror` option is given. */
export const MIRROR_ENV = "FF_MNIST_MIRROR";

/** Options of {@linkcode fetchMnist}. */
export interface FetchMnistOptions {
  /** Where the files go; default `data/mnist`. */
  dir?: string;
  /** A folder or an http(s)/file URL holding the four files; default `$FF_MNIST_MIRROR`. */
  mirror?: string;
  /** Progress, one line at a time; default `console.log`. */
  log?: (line: string) => void;
  /** How long to wait for a URL to start answering, in ms; default 5000. */
  connectTimeoutMs?: number;
}

/** What {@linkcode fetchMnist} did. */
export interface FetchMnistResult {
  /** The folder the files are in. */
  dir: string;
  /** Names fetched now, verified. */
  fetched: MnistFileName[];
  /** Names already present with the right sum. */
  skipped: MnistFileName[];
  /** Names no public mirror could serve (empty on success; a named mirror throws instead). */
  missing: MnistFileName[];
}

/**
 * Fetches whichever of the four MNIST files `dir` lacks (or holds with a wrong sum).
 *
 * A named mirror (option or `FF_MNIST_MIRROR`) must serve every file: anything less throws. Without
 * one, {@linkcode PUBLIC_MIRRORS} are tried in turn; when none answers, the result lists the files
 * as `missing` and the log says that the loaders will fall back to the npm subset.
 *
 * @throws Error naming the file and the mirror when a sum does not match, and naming the mirror
 * when a named mirror cannot serve a file
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fetchMnist } from "./fetch.ts";
 * // Files already there with the right sums are kept, and nothing is downloaded.
 * const { fetched, skipped } = await fetchMnist({ dir: "data/mnist", log: () => {} });
 * assertEquals([fetched.length, skipped.length], [0, 4]);
 * ```
 */
export async function fetchMnist(options: FetchMnistOptions = {}): Promise<FetchMnistResult> {
  const dir = options.dir ?? "data/mnist";
  const log = options.log ?? console.log;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const namedMirror = options.mirror ?? readEnv("FF_MNIST_MIRROR");

  await Deno.mkdir(dir, { recursive: true });
  const result: FetchMnistResult = { dir, fetched: [], skipped: [], missing: [] };
  const wanted: MnistFileName[] = [];
  for (const name of Object.values(MNIST_FILES)) {
    const present = await readIfPresent(`${dir}/${name}`);
    if (present && await sha256(present) === MNIST_SHA256[name]) {
      result.skipped.push(name);
    } else {
      if (present) log(`${dir}/${name} has the wrong SHA-256 (truncated or corrupt); replacing it`);
      wanted.push(name);
    }
  }
  if (result.skipped.length > 0) log(`already there and verified: ${result.skipped.join(", ")}`);

  if (namedMirror !== undefined) {
    for (const name of wanted) {
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await download(namedMirror, name, connectTimeoutMs);
      } catch (error) {
        throw new Error(
          `could not get ${name} from mirror ${namedMirror}: ${(error as Error).message}; ` +
            `check the mirror option or ${MIRROR_ENV}`,
        );
      }
      await saveVerified(bytes, dir, name, namedMirror);
      result.fetched.push(name);
      log(`fetched ${name} from ${namedMirror} (SHA-256 verified)`);
    }
    return result;
  }

  let pending = wanted;
  for (const mirror of PUBLIC_MIRRORS) {
    if (pending.length === 0) break;
    const fetched = await fetchWhileAnswering(mirror, pending, dir, connectTimeoutMs, log);
    result.fetched.push(...fetched);
    pending = pending.filter((name) => !fetched.includes(name));
  }
  result.missing = pending;
  if (pending.length > 0) {
    log(
      `no MNIST mirror answered, so ${pending.join(", ")} are not in ${dir}. The loaders ` +
        `(loadMnistOrSubset) will fall back to the 10,000-digit npm subset, which is NOT the ` +
        `MNIST benchmark. To get the real files, name a mirror (a folder or URL) or set ${MIRROR_ENV}.`,
    );
  }
  return result;
}

/**
 * Fetches `names` from a public mirror until it first fails to answer, and returns those it
 * saved. Stopping at the first failure keeps an unreachable mirror to one timeout, not four.
 */
async function fetchWhileAnswering(
  mirror: string,
  names: MnistFileName[],
  dir: string,
  connectTimeoutMs: number,
  log: (line: string) => void,
): Promise<MnistFileName[]> {
  const fetched: MnistFileName[] = [];
  for (const name of names) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await download(mirror, name, connectTimeoutMs);
    } catch (error) {
      log(`mirror ${mirror} did not serve ${name}: ${(error as Error).message}`);
      break;
    }
    await saveVerified(bytes, dir, name, mirror);
    fetched.push(name);
    log(`fetched ${name} from ${mirror} (SHA-256 verified)`);
  }
  return fetched;
}

/** The SHA-256 of `bytes` as lower-case hex, the form `sha256sum` prints. */
async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes `bytes` to `dir/name` only if their sum is the published one, through a temporary name
 * in the same folder so that the final rename is atomic.
 */
async function saveVerified(
  bytes: Uint8Array<ArrayBuffer>,
  dir: string,
  name: MnistFileName,
  mirror: string,
): Promise<void> {
  const actual = await sha256(bytes);
  if (actual !== MNIST_SHA256[name]) {
    throw new Error(
      `${name} from mirror ${mirror} has SHA-256 ${actual}, expected ${MNIST_SHA256[name]}: ` +
        `that copy is corrupt or not the canonical MNIST, so it was not saved; use another mirror`,
    );
  }
  const temporary = `${dir}/${name}.${crypto.randomUUID()}.part`;
  try {
    await Deno.writeFile(temporary, bytes, { createNew: true });
    await Deno.rename(temporary, `${dir}/${name}`);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** Reads `name` from a mirror that is a folder path, a `file:` URL or an `http(s):` URL. */
async function download(
  mirror: string,
  name: string,
  connectTimeoutMs: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!/^(https?|file):/i.test(mirror)) return await Deno.readFile(`${mirror}/${name}`);
  const url = new URL(name, mirror.endsWith("/") ? mirror : `${mirror}/`);
  if (url.protocol === "file:") return await Deno.readFile(url);

  // Only the wait for an answer is bounded: a slow but live link may take its time on the body.
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${connectTimeoutMs} ms`)),
    connectTimeoutMs,
  );
  let response: Response;
  try {
    response = await fetch(url, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} for ${url}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function readIfPresent(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
