// The wait for the Deno kernel's iopub socket, against a stand-in kernel that publishes over ZMTP
// as the kernel does: to subscribed connections only, one message after the other.
import { assert, assertEquals } from "@std/assert";
import {
  IopubListener,
  kernelIopubAddress,
  sent,
  stopListening,
  zmtpFrame,
  zmtpGreeting,
  zmtpReady,
} from "../lib/iopub.ts";

const encoder = new TextEncoder();

async function readExact(conn: Deno.Conn, count: number): Promise<Uint8Array> {
  const out = new Uint8Array(count);
  for (let at = 0; at < count;) {
    const read = await conn.read(out.subarray(at));
    if (read === null) throw new Error("closed");
    at += read;
  }
  return out;
}

async function readShortFrame(conn: Deno.Conn): Promise<Uint8Array> {
  const [, size] = await readExact(conn, 2);
  return await readExact(conn, size);
}

/** A Jupyter message as a kernel publishes it: no topic, delimiter, signature, four dicts. */
function message(type: string, content: unknown): Uint8Array {
  const parts = ["<IDS|MSG>", "", JSON.stringify({ msg_type: type }), "{}", "{}"]
    .map((part) => encoder.encode(part));
  parts.push(encoder.encode(JSON.stringify(content)));
  const frames = parts.map((part, i) => zmtpFrame(part, { more: i < parts.length - 1 }));
  return new Uint8Array(frames.flatMap((frame) => [...frame]));
}

/** A stand-in for the kernel's PUB socket. */
function fakeKernel() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const subscribers: Deno.Conn[] = [];
  const handshakes: string[] = [];
  const published: string[] = [];
  let chain = Promise.resolve();
  const accepting = (async () => {
    for await (const conn of listener) {
      await readExact(conn, 64);
      await conn.write(zmtpGreeting());
      const ready = new TextDecoder().decode(await readShortFrame(conn));
      await conn.write(zmtpReady("PUB"));
      const subscription = await readShortFrame(conn);
      handshakes.push(
        `${ready.includes("Socket-Type") && ready.endsWith("SUB")} [${subscription}]`,
      );
      subscribers.push(conn);
    }
  })().catch(() => {});
  /** What `Deno.jupyter.broadcast` does: queue; publish later, in order, to whoever listens. */
  const broadcast = (type: string, content: Record<string, unknown>) => {
    chain = chain.then(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      // A long frame, a heartbeat command and a message: what a real stream holds.
      const big = message("display_data", { data: { "text/plain": "x".repeat(100_000) } });
      const ping = zmtpFrame(encoder.encode("\x04PING"), { command: true });
      for (const conn of subscribers) {
        await conn.write(big);
        await conn.write(ping);
        await conn.write(message(type, content));
      }
      published.push(`${type} ${subscribers.length}`);
    });
  };
  return {
    address: { hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port },
    broadcast,
    handshakes,
    published,
    close: async () => {
      await chain;
      listener.close();
      subscribers.forEach((conn) => conn.close());
      await accepting;
    },
  };
}

Deno.test("sent returns once the kernel has published its marker, not before", async () => {
  const kernel = fakeKernel();
  try {
    const events: string[] = [];
    kernel.broadcast("display_data", { data: { "text/plain": "a figure" } });
    await sent((type, content) => {
      events.push(`queued ${type}`);
      kernel.broadcast(type, content);
    }, kernel.address);
    events.push(`returned after ${kernel.published.length} messages`);
    // Markers go out until the new subscriber sees one; the last one queued came back.
    assertEquals(kernel.handshakes, ["true [1]"]); // subscribed to every topic
    const markers = events.filter((event) => event === "queued update_display_data").length;
    assert(markers >= 2, `${markers} markers: one to subscribe, one to wait for`);
    assertEquals(events.at(-1), `returned after ${markers + 1} messages`);
    assertEquals(kernel.published.at(-1), "update_display_data 1");

    // Subscribed now: one marker per call.
    kernel.broadcast("display_data", { data: { "text/plain": "another" } });
    await sent(kernel.broadcast, kernel.address);
    assertEquals(kernel.published.length, markers + 3);
  } finally {
    await stopListening();
    await kernel.close();
  }
});

Deno.test("a marker that never comes ends the wait after the time limit, as false", async () => {
  const kernel = fakeKernel();
  const listener = await IopubListener.connect(kernel.address);
  try {
    const { seen } = listener.expect(50);
    assertEquals(await seen, false);
  } finally {
    await listener.close();
    await kernel.close();
  }
});

Deno.test("outside the kernel there is no iopub address, and sent returns at once", async () => {
  assertEquals(kernelIopubAddress(), undefined);
  let queued = 0;
  await sent(() => queued++);
  assertEquals(queued, 0);
});
