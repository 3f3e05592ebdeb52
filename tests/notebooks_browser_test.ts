// An executed notebook exported to html draws every figure in a real browser, offline.
import { assert, assertEquals, assertGreater } from "@std/assert";
import {
  executeNotebook,
  exportHtml,
  jupyterMissing,
  listNotebooks,
  outputs,
  serialize,
  withPlotly,
} from "../cli/notebooks.ts";
import { countMainSvgs, countPlots, findChromium, renderInChromium } from "./browser.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const missing = await jupyterMissing();
const ignore =
  ignoreUnless(findChromium(), "Chromium (chromium, chromium-browser or google-chrome)") ||
  ignoreUnless(missing === undefined, `Jupyter with the repository's Deno kernelspec (${missing})`);

Deno.test({
  name: "an executed notebook exported to html draws every figure with no request leaving",
  ignore,
  async fn() {
    // 02 draws four kinds of figure (lines, two histograms, a loss curve) in a few seconds.
    const [path] = listNotebooks(["02"]);
    const mnist = sharedPath("data/mnist");
    const { notebook } = await executeNotebook(path, {
      size: "quick",
      timeoutSeconds: 300,
      env: mnist ? { FF_MNIST_DIR: mnist } : {},
    });
    const figures = outputs(notebook).filter(({ output }) =>
      output.data?.["application/vnd.plotly.v1+json"]
    ).length;
    assertGreater(figures, 3);
    const dir = await Deno.makeTempDir({ prefix: "ff-notebook-html-" });
    try {
      const executed = `${dir}/02_single_layer.ipynb`;
      await Deno.writeTextFile(executed, serialize(await withPlotly(notebook)));
      const html = await exportHtml(executed, dir);
      const { dom, requests } = await renderInChromium(html, { timeoutMs: 120_000 });
      assertEquals(requests, []);
      assertEquals(countPlots(dom), figures);
      assert(countMainSvgs(dom) >= 2 * figures, `${countMainSvgs(dom)} main-svg elements`);
      assert(!dom.includes(">plotly.js is not loaded"), "every figure found plotly.js");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
