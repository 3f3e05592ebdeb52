// The report in a real browser: every figure drawn, and not one request leaving the page.
import { assert, assertEquals, assertGreater } from "@std/assert";
import {
  barChart,
  confusionMatrix,
  digitGrid,
  figureHtml,
  histogram,
  lossCurves,
} from "../lib/plot/plot.ts";
import { writeReport } from "../lib/plot/report.ts";
import { countMainSvgs, countPlots, findChromium, renderInChromium } from "./browser.ts";
import { ignoreUnless } from "./shared.ts";

const ignore = ignoreUnless(
  findChromium(),
  "Chromium (chromium, chromium-browser or google-chrome)",
);

Deno.test({
  name: "report.html draws every figure offline in Chromium",
  ignore,
  async fn() {
    const digit = Array.from({ length: 794 }, (_, i) => (i * 37) % 256 / 255);
    const figures = [
      lossCurves([[0.9, 0.6, 0.4], [0.8, 0.7, 0.5]]),
      histogram({ positive: [5, 6, 6, 7], negative: [1, 2, 2, 3] }, "Goodness", "goodness"),
      digitGrid([digit, digit.slice(0, 784)], ["positive", "no label"]),
      barChart({ "image 0": [1, 2, 3] }, { title: "Goodness per label" }),
      confusionMatrix([0, 1, 2, 2], [0, 1, 1, 2], 3),
    ];
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/report.html`;
      await writeReport(path, { title: "browser check", summary: { figures: 5 }, figures });
      const { dom, requests } = await renderInChromium(path);
      assertEquals(requests, []);
      assertEquals(countPlots(dom), figures.length);
      assert(countMainSvgs(dom) >= 2 * figures.length, `${countMainSvgs(dom)} main-svg elements`);
      // The message as a div's text, not as the string inside the script that would write it.
      assert(!dom.includes(">plotly.js is not loaded"), "every plot found window.Plotly");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "renderInChromium catches a page's requests, loopback included",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/leaky.html`;
      await Deno.writeTextFile(
        path,
        `<!doctype html><img src="http://127.0.0.1:8123/pixel.png">
<script src="https://cdn.example.invalid/lib.js"></script><p>leaky</p>`,
      );
      const { dom, requests } = await renderInChromium(path, { virtualTimeBudgetMs: 2000 });
      assert(dom.includes("<p>leaky</p>"), "the page was rendered");
      assertGreater(requests.length, 0);
      assert(requests.includes("GET http://127.0.0.1:8123/pixel.png"), requests.join("\n"));
      assert(requests.includes("CONNECT cdn.example.invalid:443"), requests.join("\n"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a figure on a page without plotly.js says so instead of staying blank",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/bare.html`;
      await Deno.writeTextFile(path, figureHtml(lossCurves([[1, 0.5]]), "bare"));
      const { dom, requests } = await renderInChromium(path, { virtualTimeBudgetMs: 2000 });
      assertEquals(requests, []);
      assertEquals(countPlots(dom), 0);
      assert(dom.includes('class="ff-plot">plotly.js is not loaded on this page'), dom);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
