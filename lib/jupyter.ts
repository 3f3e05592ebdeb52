/**
 * The Deno Jupyter kernel's display, where there is one. `Deno.jupyter` exists in every Deno
 * process but throws when read outside `deno jupyter`, hence one careful look, here.
 *
 * Every display made through this module returns only once the kernel has sent it (see
 * ./iopub.ts): `Deno.jupyter.display` returns earlier, and what a cell displays last can then
 * arrive after the cell's end and be lost.
 *
 * @module
 */
import { type Broadcast, sent } from "./iopub.ts";

/** A Jupyter MIME bundle: MIME type to content. */
export type MimeBundle = Record<string, unknown>;

/** Options of a {@linkcode JupyterDisplay}. */
export interface DisplayOptions {
  /** Id of an output that later displays with `update` replace. */
  display_id?: string;
  /** Replace the output `display_id` instead of adding one. */
  update?: boolean;
  /** The output's metadata, kept with it in the notebook. */
  metadata?: Record<string, unknown>;
}

/** Shows a MIME bundle as a cell output and resolves once the kernel has sent it. */
export type JupyterDisplay = (bundle: MimeBundle, options?: DisplayOptions) => Promise<void>;

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

function kernelBroadcast(): Broadcast | undefined {
  if (!("jupyter" in Deno)) return undefined;
  try {
    const broadcast = (Deno.jupyter as { broadcast?: unknown }).broadcast;
    return typeof broadcast === "function"
      ? (broadcast as Broadcast).bind(Deno.jupyter)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A display inside the Deno kernel, else undefined.
 *
 * @example
 * ```ts
 * import { jupyterDisplay } from "./jupyter.ts";
 * const display = jupyterDisplay(); // undefined here: this example runs outside Jupyter
 * if (display) await display({ "text/plain": "hello" });
 * else console.log("hello");
 * ```
 */
export function jupyterDisplay(): JupyterDisplay | undefined {
  const broadcast = kernelBroadcast();
  if (!broadcast) return undefined;
  return async (bundle, { display_id, update = false, metadata = {} } = {}) => {
    broadcast(update ? "update_display_data" : "display_data", {
      data: bundle,
      metadata,
      transient: display_id === undefined ? {} : { display_id },
    });
    await sent(broadcast);
  };
}

async function bundleOf(value: string | object): Promise<MimeBundle> {
  if (typeof value === "string") return { "text/plain": value };
  const view = (value as Record<symbol, unknown> | null)?.[JUPYTER_DISPLAY];
  if (typeof view !== "function") {
    throw new Error(
      "show takes text or an object with a Jupyter view (a Plot, say), got " +
        (value === null ? "null" : typeof value),
    );
  }
  return await view.call(value) as MimeBundle;
}

/**
 * Text, or an object with a Jupyter view (a `Plot`: its `Symbol.for("Jupyter.display")`
 * method), as a cell output that is sent before the cell ends; outside Jupyter, the
 * text (or the figure's plain-text view) on stdout. Notebooks show things through this rather
 * than `console.log` or `Deno.jupyter.display`, whose last outputs in a cell the Deno kernel
 * may send too late to be kept.
 *
 * @example
 * ```ts
 * import { show } from "./jupyter.ts";
 * await show("test error 0.0139");
 * // in a notebook: await show(lossCurves(net.losses));
 * ```
 */
export async function show(value: string | object): Promise<void> {
  const bundle = await bundleOf(value);
  const display = jupyterDisplay();
  if (display) await display(bundle);
  else console.log(String(bundle["text/plain"] ?? ""));
}
