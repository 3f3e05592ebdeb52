/**
 * The Deno Jupyter kernel's display, where there is one. `Deno.jupyter` exists in every Deno
 * process but throws when read outside `deno jupyter`, hence one careful look, here.
 *
 * @module
 */

/** What of `Deno.jupyter.display` lib/ uses. */
export type JupyterDisplay = (
  bundle: Record<string, unknown>,
  options: { raw: boolean; display_id?: string; update?: boolean },
) => Promise<void>;

/**
 * `Deno.jupyter.display` inside the Deno kernel, else undefined.
 *
 * @example
 * ```ts
 * import { jupyterDisplay } from "./jupyter.ts";
 * const display = jupyterDisplay(); // undefined here: this example runs outside Jupyter
 * if (display) await display({ "text/plain": "hello" }, { raw: true });
 * else console.log("hello");
 * ```
 */
export function jupyterDisplay(): JupyterDisplay | undefined {
  if (!("jupyter" in Deno)) return undefined;
  try {
    const display = (Deno.jupyter as { display?: unknown }).display;
    return typeof display === "function" ? display as JupyterDisplay : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Text as a cell output that is sent before the cell ends, or on stdout outside Jupyter.
 * Notebooks report through this rather than `console.log`, whose last lines in a cell the Deno
 * kernel may send too late to be kept.
 *
 * @example
 * ```ts
 * import { show } from "./jupyter.ts";
 * await show("test error 0.0139");
 * ```
 */
export async function show(text: string): Promise<void> {
  const display = jupyterDisplay();
  if (display) await display({ "text/plain": text }, { raw: true });
  else console.log(text);
}
