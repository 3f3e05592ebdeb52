/**
 * Waiting, inside the Deno kernel, until what a cell displayed has left the kernel.
 *
 * `Deno.jupyter.display` only queues a message; the kernel sends it a little later, from
 * another thread. When the cell ends first, the message reaches Jupyter after the cell's "idle"
 * status, and Jupyter drops it or files it under the next cell. With Deno 2.9, a cell that
 * displays 100 bytes and ends lost an output in 2 of 5 runs; a bigger message loses more.
 *
 * The kernel has no acknowledgement to wait for, so this module listens where Jupyter does: it
 * subscribes to the kernel's own iopub socket (found in the connection file on the kernel's
 * command line), queues a marker after the messages to wait for, and waits until the marker comes
 * back. The kernel publishes messages one at a time, each to every subscriber, so by then all that
 * was queued before the marker has been handed to Jupyter. The marker is an update of a display
 * that does not exist, which every frontend ignores.
 *
 * @module
 */

/** Where a Deno kernel publishes: from the connection file Jupyter started it with. */
export interface IopubAddress {
  hostname: string;
  port: number;
}

/** How long to wait for a marker before going on regardless. */
const MARKER_TIMEOUT_MS = 10_000;

const DELIMITER = "<IDS|MSG>";
const MARKER_PREFIX = "ff-sent-";

/**
 * The iopub address of the kernel this process is, read from `--conn FILE` on its command line;
 * undefined when this process is no Deno kernel or the file cannot be read (no /proc: not Linux).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kernelIopubAddress } from "./iopub.ts";
 * // { hostname: "127.0.0.1", port: 50123 } inside `deno jupyter --kernel`; here, outside it:
 * assertEquals(kernelIopubAddress(), undefined);
 * ```
 */
export function kernelIopubAddress(): IopubAddress | undefined {
  try {
    const argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
    const at = argv.indexOf("--conn");
    if (at < 0 || !argv[at + 1]) return undefined;
    const info = JSON.parse(Deno.readTextFileSync(argv[at + 1]));
    if ((info.transport ?? "tcp") !== "tcp" || !Number.isInteger(info.iopub_port)) return undefined;
    return { hostname: info.ip, port: info.iopub_port };
  } catch {
    return undefined;
  }
}

/** Bytes read from a connection, handed out by exact counts. */
class Reader {
  #conn: Deno.Conn;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async take(count: number): Promise<Uint8Array> {
    while (this.#buffered < count) {
      const chunk = new Uint8Array(Math.max(65_536, count - this.#buffered));
      const read = await this.#conn.read(chunk);
      if (read === null) throw new Error("the kernel closed its iopub connection");
      this.#chunks.push(chunk.subarray(0, read));
      this.#buffered += read;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const head = this.#chunks[0];
      const used = Math.min(head.length, count - filled);
      out.set(head.subarray(0, used), filled);
      filled += used;
      if (used === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(used);
    }
    this.#buffered -= count;
    return out;
  }
}

/** One ZMTP frame: a message part or a command. */
interface Frame {
  body: Uint8Array;
  more: boolean;
  command: boolean;
}

async function readFrame(reader: Reader): Promise<Frame> {
  const [flags] = await reader.take(1);
  let size: number;
  if (flags & 0x02) {
    const bytes = await reader.take(8);
    size = Number(new DataView(bytes.buffer).getBigUint64(0));
  } else {
    size = (await reader.take(1))[0];
  }
  return {
    body: await reader.take(size),
    more: (flags & 0x01) !== 0,
    command: (flags & 0x04) !== 0,
  };
}

/** A frame as ZMTP writes it: flags, then a one- or eight-byte size. */
export function zmtpFrame(body: Uint8Array, { more = false, command = false } = {}): Uint8Array {
  const long = body.length > 255;
  const head = long ? 9 : 2;
  const out = new Uint8Array(head + body.length);
  out[0] = (more ? 0x01 : 0) | (long ? 0x02 : 0) | (command ? 0x04 : 0);
  if (long) new DataView(out.buffer).setBigUint64(1, BigInt(body.length));
  else out[1] = body.length;
  out.set(body, head);
  return out;
}

/** ZMTP 3.0's greeting with the NULL mechanism, as a client. */
export function zmtpGreeting(): Uint8Array {
  const greeting = new Uint8Array(64);
  greeting[0] = 0xff;
  greeting[9] = 0x7f;
  greeting[10] = 3;
  greeting.set(new TextEncoder().encode("NULL"), 12);
  return greeting;
}

/** The READY command announcing a socket type. */
export function zmtpReady(socketType: string): Uint8Array {
  const encoder = new TextEncoder();
  const [name, property, value] = ["READY", "Socket-Type", socketType].map((s) =>
    encoder.encode(s)
  );
  const body = new Uint8Array(1 + name.length + 1 + property.length + 4 + value.length);
  let at = 0;
  body[at++] = name.length;
  body.set(name, at);
  at += name.length;
  body[at++] = property.length;
  body.set(property, at);
  at += property.length;
  new DataView(body.buffer).setUint32(at, value.length);
  body.set(value, at + 4);
  return zmtpFrame(body, { command: true });
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/**
 * A subscriber to a Jupyter kernel's iopub socket that notices markers: updates of displays
 * whose id starts with "ff-sent-".
 */
export class IopubListener {
  readonly #conn: Deno.Conn;
  readonly #waiting = new Map<string, () => void>();
  #closed = false;
  /** Settles when the connection is gone. */
  readonly done: Promise<void>;

  private constructor(conn: Deno.Conn, reader: Reader) {
    this.#conn = conn;
    this.done = this.#listen(reader).catch(() => {}).finally(() => {
      this.#closed = true;
      for (const wake of this.#waiting.values()) wake();
    });
  }

  /** Connects to `address` as a ZMTP 3.0 SUB socket subscribed to everything. */
  static async connect(address: IopubAddress): Promise<IopubListener> {
    const conn = await Deno.connect(address);
    try {
      const reader = new Reader(conn);
      await writeAll(conn, zmtpGreeting());
      await reader.take(64);
      await writeAll(conn, zmtpReady("SUB"));
      const ready = await readFrame(reader);
      if (!ready.command) throw new Error("the kernel's iopub socket sent no READY");
      // Subscribe to every topic: a message whose body is 1 followed by the (empty) prefix.
      await writeAll(conn, zmtpFrame(new Uint8Array([1])));
      return new IopubListener(conn, reader);
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  async #listen(reader: Reader): Promise<void> {
    const decoder = new TextDecoder();
    for (;;) {
      const parts: Uint8Array[] = [];
      for (let frame = await readFrame(reader);; frame = await readFrame(reader)) {
        if (!frame.command) parts.push(frame.body);
        if (!frame.more) break;
      }
      const at = parts.findIndex((part) => decoder.decode(part) === DELIMITER);
      // Frames after the delimiter: signature, header, parent header, metadata, content.
      if (at < 0 || parts.length < at + 6) continue;
      const header = JSON.parse(decoder.decode(parts[at + 2]));
      if (header.msg_type !== "update_display_data") continue;
      const id = JSON.parse(decoder.decode(parts[at + 5]))?.transient?.display_id;
      this.#waiting.get(id)?.();
    }
  }

  /**
   * A marker id and a promise that resolves true when a marker with that id arrives, or false
   * after `timeoutMs` or when the connection goes.
   */
  expect(timeoutMs = MARKER_TIMEOUT_MS): { id: string; seen: Promise<boolean> } {
    const id = `${MARKER_PREFIX}${crypto.randomUUID()}`;
    const seen = new Promise<boolean>((resolve) => {
      if (this.#closed) return resolve(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (arrived: boolean) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(arrived);
      };
      this.#waiting.set(id, () => finish(!this.#closed));
    });
    return { id, seen };
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    await this.done;
  }
}

/** Queues a message on the kernel's iopub socket, as `Deno.jupyter.broadcast` does. */
export type Broadcast = (messageType: string, content: Record<string, unknown>) => void;

/** The content of a marker: an update of the display `id`, which does not exist. */
export function markerContent(id: string): Record<string, unknown> {
  return { data: {}, metadata: {}, transient: { display_id: id } };
}

/** This process's kernel's address: looked up once (null: not yet). */
let ownAddress: IopubAddress | undefined | null = null;

/** The subscription {@linkcode sent} keeps; resolves to undefined if it could not be made. */
let listening: Promise<IopubListener | undefined> | undefined;

/**
 * Connects and waits until the kernel sends to the new subscriber: it does so only from some
 * moment after the connection, so markers are sent until one comes back.
 */
async function subscribe(
  address: IopubAddress,
  broadcast: Broadcast,
): Promise<IopubListener | undefined> {
  const listener = await IopubListener.connect(address);
  for (let attempt = 0; attempt < 50; attempt++) {
    const { id, seen } = listener.expect(100);
    broadcast("update_display_data", markerContent(id));
    if (await seen) return listener;
    if (listener.closed) break;
  }
  await listener.close();
  return undefined;
}

/**
 * Resolves once everything queued with `broadcast` before the call has been sent by the kernel
 * to its subscribers (Jupyter), or after at most 10 s; at once where this process is no Deno
 * kernel on Linux (then nothing can be waited for).
 *
 * @example
 * ```ts
 * // Inside the Deno kernel (this example is only type-checked there):
 * import { sent } from "./iopub.ts";
 * if (Deno.env.get("JPY_PARENT_PID")) {
 *   await Deno.jupyter.broadcast("display_data", { data: { "text/plain": "hi" }, metadata: {}, transient: {} });
 *   await sent(Deno.jupyter.broadcast); // "hi" is on its way to Jupyter, ahead of the cell's end
 * }
 * ```
 */
export async function sent(
  broadcast: Broadcast,
  address: IopubAddress | undefined = ownAddress === null
    ? (ownAddress = kernelIopubAddress())
    : ownAddress,
): Promise<void> {
  if (!address) return;
  listening ??= subscribe(address, broadcast).catch(() => undefined);
  const current = await listening;
  // Never subscribed (the kernel sent none of 50 markers back): waiting would only cost time.
  if (!current) return;
  if (current.closed) {
    // The connection went: the next call makes a new one.
    listening = undefined;
    return;
  }
  const { id, seen } = current.expect();
  broadcast("update_display_data", markerContent(id));
  await seen;
}

/** Closes the connection {@linkcode sent} keeps, if any (a later call opens a new one). */
export async function stopListening(): Promise<void> {
  const current = await listening;
  listening = undefined;
  await current?.close();
}
