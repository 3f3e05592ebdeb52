/**
 * Test helper: opens an html page in headless Chromium and returns the DOM after its scripts
 * ran, plus every network request the page tried to make. A page that is meant to work
 * offline (report.html, a notebook exported to html) must render with `requests` empty.
 *
 * Requests are caught by a loopback proxy that Chromium is told to use for everything,
 * loopback included, and that answers each one with 502, so nothing leaves the machine.
 *
 * @module
 */
import { CHROMIUMS, findChromium } from "../tools/chromium.ts";

/** What a page became in the browser. */
export interface Rendered {
  /** The serialised DOM after the page's scripts ran (`--dump-dom`). */
  dom: string;
  /** Every request the page made: `GET http://host/path` or `CONNECT host:443` lines. */
  requests: string[];
  /** Requests Chromium made for itself (see {@linkcode CHROMIUM_SERVICE_HOSTS}), set apart. */
  browserRequests: string[];
}

/**
 * Hosts that Chromium calls on its own, whatever the page (component and model updates,
 * network time, sign-in), and that no flag turns off in every version. Requests to them are
 * reported as `browserRequests`, not as the page's. Exact names only: a page's request to
 * any other Google host (fonts, CDNs) still counts against it.
 */
export const CHROMIUM_SERVICE_HOSTS: readonly string[] = [
  "accounts.google.com",
  "android.clients.google.com",
  "clients2.google.com",
  "clientservices.googleapis.com",
  "content-autofill.googleapis.com",
  "edgedl.me.gvt1.com",
  "optimizationguide-pa.googleapis.com",
  "redirector.gvt1.com",
  "safebrowsingohttpgateway.googleapis.com",
  "update.googleapis.com",
];

/** Host of a recorded request line: `CONNECT host:443` or `GET http://host/path`. */
export function requestHost(line: string): string {
  const target = line.split(" ")[1] ?? "";
  if (/^[a-z]+:\/\//i.test(target)) return new URL(target).hostname;
  return target.replace(/:\d+$/, "");
}

/** Flags for a headless Chromium that asks the network for as little as it can on its own. */
export const HEADLESS_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--no-first-run",
  // Less of the browser's own traffic; what is left is set apart by host.
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
  "--disable-domain-reliability",
  "--no-default-browser-check",
  "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
];

/** Options of {@linkcode renderInChromium}. */
export interface RenderOptions {
  /** Virtual time the page gets to run its scripts and timers. Default 10 000 ms. */
  virtualTimeBudgetMs?: number;
  /** Chromium is killed after this much real time. Default 60 000 ms. */
  timeoutMs?: number;
  /** Browser window size, which responsive plots follow. Default [1200, 900]. */
  windowSize?: [number, number];
}

export { findChromium };

/** `file://` URL of a path, absolute or relative to the working directory. */
function toUrl(fileOrUrl: string | URL): string {
  if (fileOrUrl instanceof URL) return fileOrUrl.href;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(fileOrUrl)) return fileOrUrl;
  const url = new URL("file:///");
  url.pathname = fileOrUrl.startsWith("/") ? fileOrUrl : `${Deno.cwd()}/${fileOrUrl}`;
  return url.href;
}

/** A proxy that records the request line of each connection and refuses it. */
export function startRecordingProxy(): {
  port: number;
  requests: string[];
  close: () => Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const connections = new Set<Promise<void>>();
  const refuse = new TextEncoder().encode(
    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
  );
  const serve = async (conn: Deno.Conn) => {
    try {
      const buffer = new Uint8Array(8192);
      const read = await conn.read(buffer);
      if (read !== null) {
        const head = new TextDecoder().decode(buffer.subarray(0, read));
        const line = head.split("\r\n")[0];
        // "GET http://example.com/x HTTP/1.1" -> "GET http://example.com/x"
        requests.push(line.replace(/\s+HTTP\/[\d.]+$/, ""));
        await conn.write(refuse);
      }
    } catch {
      // Chromium may hang up first; the request line, if any, is recorded.
    } finally {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const served = serve(conn);
        connections.add(served);
        served.finally(() => connections.delete(served));
      }
    } catch {
      // the listener was closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    close: async () => {
      listener.close();
      await accepting;
      await Promise.all(connections);
    },
  };
}

/**
 * Opens `fileOrUrl` (an html file path or a URL) in headless Chromium with a fresh profile
 * and returns its DOM after `virtualTimeBudgetMs` of page time and the requests it made.
 * Throws if no Chromium is found, if Chromium fails, or after `timeoutMs`.
 *
 * @example
 * ```ts
 * const { dom, requests } = await renderInChromium("runs/1/report.html");
 * assertEquals(requests, []);
 * assert(countPlots(dom) >= 3);
 * ```
 */
export async function renderInChromium(
  fileOrUrl: string | URL,
  { virtualTimeBudgetMs = 10_000, timeoutMs = 60_000, windowSize = [1200, 900] }: RenderOptions =
    {},
): Promise<Rendered> {
  const chromium = findChromium();
  if (!chromium) throw new Error(`no Chromium found: install one of ${CHROMIUMS.join(", ")}`);
  const profile = await Deno.makeTempDir({ prefix: "ff-chromium-" });
  const proxy = startRecordingProxy();
  try {
    const command = new Deno.Command(chromium, {
      args: [
        ...HEADLESS_FLAGS,
        `--user-data-dir=${profile}`,
        `--proxy-server=http://127.0.0.1:${proxy.port}`,
        // Not even loopback bypasses the proxy: a page must need no server at all.
        "--proxy-bypass-list=<-loopback>",
        `--window-size=${windowSize.join(",")}`,
        `--virtual-time-budget=${virtualTimeBudgetMs}`,
        "--dump-dom",
        toUrl(fileOrUrl),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const { code, signal, stdout, stderr } = await command.output();
    if (signal !== null) {
      throw new Error(`Chromium was stopped by ${signal} (time limit ${timeoutMs} ms)`);
    }
    if (code !== 0) {
      const log = new TextDecoder().decode(stderr).trim().split("\n").slice(-5).join("\n");
      throw new Error(`Chromium exited with code ${code}:\n${log}`);
    }
    const isBrowsers = (line: string) => CHROMIUM_SERVICE_HOSTS.includes(requestHost(line));
    return {
      dom: new TextDecoder().decode(stdout),
      requests: proxy.requests.filter((line) => !isBrowsers(line)),
      browserRequests: proxy.requests.filter(isBrowsers),
    };
  } finally {
    await proxy.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/**
 * How many plotly plots were drawn in `dom`: each drawn plot has one
 * `plot-container plotly` element holding its `main-svg` layers.
 *
 * @example
 * ```ts
 * countPlots('<div class="plot-container plotly"><svg class="main-svg"></svg></div>'); // 1
 * ```
 */
export function countPlots(dom: string): number {
  return dom.match(/class="plot-container plotly"/g)?.length ?? 0;
}

/**
 * How many plotly `main-svg` layers `dom` holds (usually 2 per plain plot, more with
 * subplots or overlays): a plot that failed to draw has none.
 *
 * @example
 * ```ts
 * countMainSvgs('<svg class="main-svg"></svg><svg class="main-svg"></svg>'); // 2
 * ```
 */
export function countMainSvgs(dom: string): number {
  return dom.match(/class="main-svg"/g)?.length ?? 0;
}
