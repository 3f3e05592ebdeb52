/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The worker of ./resume.ts: on the first SIGINT or SIGTERM it says what happens next, tells
 * the main thread, and drops its listeners, so that the next signal ends the process at once.
 *
 * @module
 */
const names: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
const listeners = names.map((name) => ({
  name,
  listener: () => {
    for (const { name, listener } of listeners) Deno.removeSignalListener(name, listener);
    const again = name === "SIGINT" ? "Ctrl-C" : name;
    console.error(
      `\n${name}: stopping after this epoch, to write a checkpoint; ${again} again stops at once`,
    );
    self.postMessage(name);
  },
}));
for (const { name, listener } of listeners) Deno.addSignalListener(name, listener);
