/**
 * Puts the four MNIST files into a folder, from a mirror you name (a local folder or a URL) or
 * else from the usual public mirrors, each checked against its published SHA-256 before it takes
 * its final name: an interrupted or corrupt download never leaves a file that looks valid.
 *
 * The folder's files are the user's: it writes only the files that are missing, and only into a
 * new or empty folder or one that holds nothing but MNIST's files; it never replaces a file.
 * Every download gives up after {@linkcode FetchMnistOptions.timeoutMs} without a byte.
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
import {
  DatasetMismatchError,
  datasetOfFile,
  MIRROR_ENV,
  MNIST_FILES,
  type MnistFileName,
  sha256Hex,
} from "./mnist.ts";

export { MIRROR_ENV };

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

/** Options of {@linkcode fetchMnist}. */
export interface FetchMnistOptions {
  /** Where the files go; default `data/mnist`. */
  dir?: string;
  /** A folder or an http(s)/file URL holding the four files; default `$FF_MNIST_MIRROR`. */
  mirror?: string;
  /** Progress, one line at a time; default `console.log`. */
  log?: (line: string) => void;
  /**
   * How long a URL may keep silent, in ms, before the download gives up: before it answers, and
   * between any two pieces of the file; default 5000.
   */
  timeoutMs?: number;
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
 * Fetches whichever of the four MNIST files `dir` lacks.
 *
 * A named mirror (option or `FF_MNIST_MIRROR`) must serve every file: anything less throws. Without
 * one, {@linkcode PUBLIC_MIRRORS} are tried in turn; when none answers, the result lists the files
 * as `missing` and the log says that the loaders will fall back to the npm subset.
 *
 * @throws Error naming the file and the mirror when a sum does not match, and naming the mirror
 * when a named mirror cannot serve a file or keeps silent for `timeoutMs`
 * @throws Error naming the file when `dir` holds a file that is not MNIST's (a
 * {@linkcode DatasetMismatchError} when it is Fashion-MNIST's), or, when a file is missing,
 * anything besides MNIST's files: nothing is written then
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
  const timeoutMs = options.timeoutMs ?? 5000;
  const namedMirror = options.mirror ?? readEnv("FF_MNIST_MIRROR");

  const result: FetchMnistResult = { dir, fetched: [], skipped: [], missing: [] };
  const wanted: MnistFileName[] = [];
  for (const name of Object.values(MNIST_FILES)) {
    const present = await readIfPresent(`${dir}/${name}`);
    if (present === undefined) wanted.push(name);
    else if (await sha256Hex(present) === MNIST_SHA256[name]) result.skipped.push(name);
    else {
      const dataset = await datasetOfFile(name, present);
      // MNIST's contents gzipped anew are MNIST all the same.
      if (dataset === "mnist") result.skipped.push(name);
      else if (dataset !== undefined) {
        throw new DatasetMismatchError(dir, "mnist", dataset, `the SHA-256 of ${name}`);
      } else {
        throw new Error(
          `${dir}/${name} is not MNIST's (not its published SHA-256), and fetchMnist never ` +
            `replaces a file: name another folder, or, if it is a damaged copy of MNIST's, ` +
            `delete it and fetch again`,
        );
      }
    }
  }
  if (result.skipped.length > 0) log(`already there and verified: ${result.skipped.join(", ")}`);
  if (wanted.length === 0) return result;
  await claimFolder(dir);

  if (namedMirror !== undefined) {
    for (const name of wanted) {
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await download(namedMirror, name, timeoutMs);
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
    const fetched = await fetchWhileAnswering(mirror, pending, dir, timeoutMs, log);
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
  timeoutMs: number,
  log: (line: string) => void,
): Promise<MnistFileName[]> {
  const fetched: MnistFileName[] = [];
  for (const name of names) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await download(mirror, name, timeoutMs);
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

/** A temporary name of {@linkcode saveVerified}'s, left behind by a process that was killed. */
const PART = /^(train|t10k)-(images|labels)-idx[13]-ubyte\.gz\.[0-9a-f-]{36}\.part$/;

/**
 * Makes `dir` if it is missing; otherwise throws, naming the first entry that is neither one of
 * MNIST's files (the present ones are verified by now) nor a temporary name of ours: a folder of
 * the user's other files is theirs, whatever its name.
 */
async function claimFolder(dir: string): Promise<void> {
  const ours = new Set<string>(Object.values(MNIST_FILES));
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (ours.has(entry.name) || PART.test(entry.name)) continue;
      throw new Error(
        `${dir}/${entry.name} is not one of MNIST's files, and fetchMnist writes only into a ` +
          `new or empty folder or one that holds nothing but MNIST's files: name another folder`,
      );
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.mkdir(dir, { recursive: true });
  }
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
  const actual = await sha256Hex(bytes);
  if (actual !== MNIST_SHA256[name]) {
    throw new Error(
      `${name} from mirror ${mirror} has SHA-256 ${actual}, expected ${MNIST_SHA256[name]}: ` +
        `that copy is corrupt or not the canonical MNIST, so it was not saved; use another mirror`,
    );
  }
  const temporary = `${dir}/${name}.${crypto.randomUUID()}.part`;
  try {
    await Deno.writeFile(temporary, bytes, { createNew: true });
    await placeNew(temporary, `${dir}/${name}`);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/**
 * Gives `temporary` the name `path` unless a file took that name meanwhile: a hard link fails
 * where a rename would replace. Filesystems without hard links rename, the name having been free
 * a moment before.
 */
async function placeNew(temporary: string, path: string): Promise<void> {
  try {
    await Deno.link(temporary, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Error(
        `${path} appeared while it was fetched, and fetchMnist never replaces a file`,
      );
    }
    await Deno.rename(temporary, path);
    return;
  }
  await Deno.remove(temporary);
}

/** Reads `name` from a mirror that is a folder path, a `file:` URL or an `http(s):` URL. */
async function download(
  mirror: string,
  name: string,
  timeoutMs: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!/^(https?|file):/i.test(mirror)) return await Deno.readFile(`${mirror}/${name}`);
  const url = new URL(name, mirror.endsWith("/") ? mirror : `${mirror}/`);
  if (url.protocol === "file:") return await Deno.readFile(url);

  // Silence is bounded, not the whole download: a slow but live link may take its time.
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = (what: string) => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new Error(`${what} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  };
  silent("no answer");
  try {
    const response = await fetch(url, { signal: controller.signal });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} for ${url}`);
    }
    const chunks: Uint8Array[] = [];
    let length = 0;
    silent("no bytes");
    for await (const chunk of response.body ?? []) {
      chunks.push(chunk);
      length += chunk.length;
      silent(`no more bytes after ${length}`);
    }
    const bytes = new Uint8Array(length);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return bytes;
  } finally {
    clearTimeout(timer);
  }
}

async function readIfPresent(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
