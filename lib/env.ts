/**
 * Every environment variable lib/ reads, in one place. The core (lib/core/) reads none: each of
 * these only picks a default that a function's own option also sets.
 *
 * @module
 */

/** The variables, with what each one does; the README's table is this one. */
export const ENV_VARIABLES = {
  FF_BACKEND: "backend when none is named: auto (default), blas, wasm, cpu, tensorflow, webgpu",
  FF_OPENBLAS: "path of the OpenBLAS library to load instead of the usual places",
  FF_MNIST_MIRROR: "folder or URL that `deno task data` copies MNIST from",
  FF_MNIST_DIR: "MNIST folder the notebooks read (default data/mnist)",
  FF_QUICK: "1: notebooks run tiny sizes, seconds each (tests)",
  FF_FULL: "1: notebooks run the recipes at full size (hours on a CPU)",
} as const;

/** One of {@linkcode ENV_VARIABLES}. */
export type EnvVariable = keyof typeof ENV_VARIABLES;

/**
 * The variable's value, or undefined when it is unset, empty, or unreadable (Deno without
 * `--allow-env`: the default is used then, rather than a permission prompt).
 *
 * @example
 * ```ts
 * import { readEnv } from "./env.ts";
 * const backend = readEnv("FF_BACKEND") ?? "auto"; // what setBackend() uses when none is named
 * ```
 */
export function readEnv(name: EnvVariable): string | undefined {
  if (!(name in ENV_VARIABLES)) throw new Error(`${name} is not one of lib/'s variables`);
  const { state } = Deno.permissions.querySync({ name: "env", variable: name });
  return state === "granted" ? Deno.env.get(name) || undefined : undefined;
}

/**
 * An on/off variable: unset, "", "0" or "false" is off; "1" or "true" is on; anything else
 * throws, naming the variable.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { readFlag } from "./env.ts";
 * assertEquals([readFlag("FF_QUICK", "1"), readFlag("FF_QUICK", "0"), readFlag("FF_QUICK", undefined)], [true, false, false]);
 * assertThrows(() => readFlag("FF_QUICK", "yes"), Error, "FF_QUICK must be 1 (on) or 0 (off)");
 * ```
 */
export function readFlag(name: EnvVariable, value: string | undefined = readEnv(name)): boolean {
  if (value === undefined || ["", "0", "false"].includes(value)) return false;
  if (["1", "true"].includes(value)) return true;
  throw new Error(`${name} must be 1 (on) or 0 (off), got "${value}"`);
}
