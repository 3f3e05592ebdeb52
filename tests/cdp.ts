/**
 * Test helper: headless Chromium driven over the DevTools protocol (CDP) from Deno, through a
 * WebSocket: open pages, run script in them, click as a mouse does, take screenshots. Every
 * request to a host other than loopback goes to a recording proxy that refuses it, so a page
 * that needs the network shows up in `requests()`.
 *
 * @module
 */
import {
  CHROMIUM_SERVICE_HOSTS,
  HEADLESS_FLAGS,
  requestHost,
  startRecordingProxy,
} from "./browser.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { findChromium } from "../tools/chromium.ts";

type Handler = (params: Record<string, unknown>) => void;

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

/** One WebSocket to the browser; pages are sessions on it ("flatten" mode). */
class Connection {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #handlers = new Map<string, Set<Handler>>();
  readonly closed: Promise<void>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string);
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) {
          pending?.reject(new Error(`${message.error.message} (${message.error.code})`));
        } else pending?.resolve(message.result ?? {});
      } else {
        const key = `${message.sessionId ?? ""}|${message.method}`;
        for (const handler of this.#handlers.get(key) ?? []) handler(message.params ?? {});
      }
    };
    this.closed = new Promise((resolve) => {
      socket.onclose = () => {
        for (const pending of this.#pending.values()) {
          pending.reject(new Error("Chromium closed the DevTools connection"));
        }
        this.#pending.clear();
        resolve();
      };
    });
  }

  static open(url: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.onopen = () => resolve(new Connection(socket));
      socket.onerror = () => reject(new Error(`cannot open the DevTools WebSocket ${url}`));
    });
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(
        JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }),
      );
    });
  }

  on(method: string, handler: Handler, sessionId?: string): () => void {
    const key = `${sessionId ?? ""}|${method}`;
    const handlers = this.#handlers.get(key) ?? new Set();
    handlers.add(handler);
    this.#handlers.set(key, handlers);
    return () => void handlers.delete(handler);
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads Chromium's stderr for the DevTools address, and keeps the last lines for errors. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>, log: string[]): Promise<string> {
  const lines = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`Chromium ended before it listened:\n${log.join("\n")}`);
    buffered += value;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const line of parts) {
      log.push(line);
      if (log.length > 20) log.shift();
      const url = line.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
      if (url) {
        // Keep draining, or a full pipe would block Chromium.
        (async () => {
          for (;;) {
            const next = await lines.read().catch(() => ({ done: true, value: undefined }));
            if (next.done) return;
            log.push(...(next.value ?? "").split("\n").filter((l) => l));
            log.splice(0, Math.max(0, log.length - 20));
          }
        })();
        return url;
      }
    }
  }
}

/** A headless Chromium started for a test; `close` stops it and removes its profile. */
export class Browser {
  readonly #process: Deno.ChildProcess;
  readonly #connection: Connection;
  readonly #profile: string;
  readonly #proxy: ReturnType<typeof startRecordingProxy>;
  /** Chromium's last lines on stderr, for error messages. */
  readonly log: string[];

  private constructor(
    process: Deno.ChildProcess,
    connection: Connection,
    profile: string,
    proxy: ReturnType<typeof startRecordingProxy>,
    log: string[],
  ) {
    this.#process = process;
    this.#connection = connection;
    this.#profile = profile;
    this.#proxy = proxy;
    this.log = log;
  }

  /** Starts Chromium; throws where there is none. */
  static async launch(
    { windowSize = [1280, 900] }: { windowSize?: [number, number] } = {},
  ): Promise<Browser> {
    const chromium = findChromium();
    if (!chromium) throw new Error("no Chromium on PATH: install chromium");
    const profile = await Deno.makeTempDir({ prefix: "ff-cdp-" });
    const proxy = startRecordingProxy();
    const process = new Deno.Command(chromium, {
      args: [
        ...HEADLESS_FLAGS,
        `--user-data-dir=${profile}`,
        // Loopback (the Jupyter server) is reached directly; anything else is recorded, refused.
        `--proxy-server=http://127.0.0.1:${proxy.port}`,
        `--window-size=${windowSize.join(",")}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log: string[] = [];
    try {
      const url = await Promise.race([
        devtoolsUrl(process.stderr, log),
        sleep(30_000).then(() => {
          throw new Error(`Chromium did not listen within 30 s:\n${log.join("\n")}`);
        }),
      ]);
      return new Browser(process, await Connection.open(url), profile, proxy, log);
    } catch (e) {
      process.kill("SIGKILL");
      await process.status;
      await proxy.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** A new tab, at about:blank. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.#connection.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#connection.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this.#connection, String(targetId), String(sessionId));
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /** Requests the pages made to hosts other than loopback, Chromium's own left out. */
  requests(): string[] {
    return this.#proxy.requests.filter((line) =>
      !CHROMIUM_SERVICE_HOSTS.includes(requestHost(line))
    );
  }

  /** Stops Chromium (gently, then not), its proxy, and removes its profile. */
  async close(): Promise<void> {
    await Promise.race([this.#connection.send("Browser.close").catch(() => {}), sleep(5_000)]);
    this.#connection.close();
    const exited = await Promise.race([this.#process.status.then(() => true), sleep(5_000)]);
    if (!exited) {
      try {
        this.#process.kill("SIGKILL");
      } catch {
        // gone meanwhile
      }
      await this.#process.status;
    }
    await this.#process.stderr.cancel().catch(() => {});
    await this.#proxy.close();
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** One tab. */
export class Page {
  readonly #connection: Connection;
  readonly #targetId: string;
  readonly #sessionId: string;
  /** Uncaught exceptions of the page's scripts, as "message at url:line". */
  readonly exceptions: string[] = [];
  /** Dialogs the page opened (each accepted, as a person clicking OK or "Leave" would). */
  readonly dialogs: string[] = [];

  constructor(connection: Connection, targetId: string, sessionId: string) {
    this.#connection = connection;
    this.#targetId = targetId;
    this.#sessionId = sessionId;
    connection.on("Runtime.exceptionThrown", (params) => {
      const details = params.exceptionDetails as {
        text?: string;
        url?: string;
        lineNumber?: number;
        exception?: { description?: string };
      };
      this.exceptions.push(
        `${details.exception?.description ?? details.text} at ${details.url}:${details.lineNumber}`,
      );
    }, sessionId);
    // A page with unsaved changes asks before it is left (reloaded, say).
    connection.on("Page.javascriptDialogOpening", (params) => {
      this.dialogs.push(`${params.type}: ${params.message}`);
      this.send("Page.handleJavaScriptDialog", { accept: true }).catch(() => {});
    }, sessionId);
  }

  /** A CDP command to this tab. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#connection.send(method, params, this.#sessionId);
  }

  async #untilLoaded(action: () => Promise<unknown>, timeoutMs: number): Promise<void> {
    let off: () => void = () => {};
    const loaded = new Promise<void>((resolve) => {
      off = this.#connection.on("Page.loadEventFired", () => resolve(), this.#sessionId);
    });
    try {
      await action();
      await Promise.race([
        loaded,
        sleep(timeoutMs).then(() => {
          throw new Error(`the page did not load within ${timeoutMs / 1000} s`);
        }),
      ]);
    } finally {
      off();
    }
  }

  /** Opens `url` and waits for its load event. */
  async goto(url: string, timeoutMs = 60_000): Promise<void> {
    await this.#untilLoaded(async () => {
      const { errorText } = await this.send("Page.navigate", { url });
      if (errorText) throw new Error(`cannot open ${url}: ${errorText}`);
    }, timeoutMs);
  }

  /** Reloads the page, as F5 does, and waits for its load event. */
  async reload(timeoutMs = 60_000): Promise<void> {
    await this.#untilLoaded(() => this.send("Page.reload", { ignoreCache: true }), timeoutMs);
  }

  /** The value of a script expression (awaited if it is a promise), as JSON brings it. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }) as { result: { value?: T }; exceptionDetails?: { exception?: { description?: string } } };
    if (exceptionDetails) {
      throw new Error(`script failed: ${exceptionDetails.exception?.description ?? expression}`);
    }
    return result.value as T;
  }

  /** Polls `expression` until it is truthy; throws `what` after `timeoutMs`. */
  async waitFor(expression: string, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.evaluate<boolean>(`Boolean(${expression})`))) {
      if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs / 1000} s`);
      await sleep(250);
    }
  }

  /** Clicks the middle of the first element `selector` matches, with mouse events. */
  async click(selector: string): Promise<void> {
    const box = await this.evaluate<{ x: number; y: number } | null>(`(() => {
      const element = document.querySelector(${JSON.stringify(selector)});
      if (!element) return null;
      element.scrollIntoView({ block: "center" });
      const r = element.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    })()`);
    if (!box) throw new Error(`nothing on the page matches ${selector}`);
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", {
        type,
        x: box.x,
        y: box.y,
        button: "left",
        clickCount: type === "mouseMoved" ? 0 : 1,
      });
    }
  }

  /** A PNG of the page at `width` × `height` CSS pixels, written to `path`. */
  async screenshot(path: string, [width, height]: [number, number]): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    // Let the page lay itself out for the new size (classic Jupyter sizes its panes on resize).
    await this.evaluate("new Promise((r) => requestAnimationFrame(() => setTimeout(r, 500)))");
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    await this.send("Emulation.clearDeviceMetricsOverride");
    await writeFileAtomic(path, Uint8Array.from(atob(String(data)), (c) => c.charCodeAt(0)));
  }

  /** Closes the tab. */
  async close(): Promise<void> {
    await this.#connection.send("Target.closeTarget", { targetId: this.#targetId });
  }
}
