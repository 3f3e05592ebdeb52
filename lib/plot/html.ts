/**
 * Escaping text for html, once for every page lib/ writes.
 *
 * @module
 */

/**
 * Text safe inside html elements and double-quoted attributes.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * escapeHtml('<b class="x">&</b>'); // "&lt;b class=&quot;x&quot;&gt;&amp;&lt;/b&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}
