/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The worker of ./resume.ts: on the first stop signal it says what happens next, tells the main
 * thread, and drops its listeners, so that the next signal ends the process at once. The main
 * thread tells it when training is over (`{ resume }`), which changes what happens next.
 *
 * @module
 */
// A closed terminal or a dropped SSH session (SIGHUP) too. Windows has SIGINT alone.
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

let resume: string | undefined;
self.onmessage = ({ data }) => resume = data.resume;

const listeners = STOP_SIGNALS.map((name) => ({
  name,
  listener: () => {
    for (const { name, listener } of listeners) Deno.removeSignalListener(name, listener);
    const again = name === "SIGINT" ? "Ctrl-C" : name;
    const next = resume === undefined
      ? `stopping after this epoch, to write a checkpoint; ${again} again stops at once`
      : `training has finished: writing its results, then stopping; ${again} again stops at ` +
        `once (then ${resume} writes them)`;
    try {
      console.error(`\n${name}: ${next}`);
    } catch {
      // A closed terminal (SIGHUP) cannot be written to: the run stops all the same.
    }
    self.postMessage(name);
  },
}));
for (const { name, listener } of listeners) Deno.addSignalListener(name, listener);
