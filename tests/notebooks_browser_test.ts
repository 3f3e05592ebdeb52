// Every notebook as a person runs it: a real classic Jupyter Notebook server, a real browser
// (headless Chromium over the DevTools protocol), "Cell > Run All" clicked with the mouse. Each
// notebook runs three times in a row in one kernel, its page opened anew before the second run
// (saved, then reloaded: the saved outputs must draw every figure already) and the third (a
// second tab): every run must keep every output, draw every figure as plotly's SVG, show no
// error, and show training progress moving in place. A live loss plot (`trainingPlot`) must be
// one figure that grows while its cell runs: a fixture notebook proves it on its own, quickly.
import {
  assert,
  assertEquals,
  assertGreater,
  assertGreaterOrEqual,
  assertMatch,
} from "@std/assert";
import { PLOTLY_PART_METADATA } from "../lib/plot/plot.ts";
import {
  jupyterMissing,
  listNotebooks,
  missingOutputs,
  type Notebook,
  outputs,
  text,
} from "../tools/notebooks.ts";
import { findChromium } from "./browser.ts";
import { Browser, type Page } from "./cdp.ts";
import { notebookServerMissing, startNotebookServer } from "./jupyter_server.ts";
import { ignoreUnless, sharedPath } from "./shared.ts";

const RUNS = 3;
const RUN_TIMEOUT_MS = 300_000;
const PLOTLY_JSON = "application/vnd.plotly.v1+json";
/** Where the screenshots go, one per notebook after its last run. */
const OUT_DIR = new URL("../.out/notebooks_browser_test", import.meta.url).pathname;

const jupyter = notebookServerMissing() ?? await jupyterMissing();
const ignore =
  ignoreUnless(findChromium(), "Chromium (chromium, chromium-browser or google-chrome)") ||
  ignoreUnless(
    jupyter === undefined,
    `the classic Jupyter Notebook with the Deno kernelspec (${jupyter})`,
  );

/** What one code cell looked like on the page after a run. */
interface CellView {
  /** `.plot-container.plotly` elements: plots plotly drew. */
  plots: number;
  /** plotly's `main-svg` layers among them. */
  svgs: number;
  /** Error outputs shown. */
  errors: number;
  /** Figures that said plotly.js was missing. */
  notLoaded: number;
  /** What the line under plotly.js's pieces says, if the cell has them. */
  plotlyNote: string;
  /** `<progress>` elements shown at the end. */
  progressBars: number;
  /** Distinct states of the cell's progress displays seen while it was running. */
  progressStates: string[];
  /**
   * Distinct states of the cell's plotly figures seen while it was running, each
   * "FIGURES:POINTS": how many figures the cell showed and how many points they held.
   */
  figureStates: string[];
}

/** How many figures a state of {@linkcode CellView.figureStates} shows, and their points. */
function figureState(state: string): { figures: number; points: number } {
  const [figures, points] = state.split(":").map(Number);
  return { figures, points };
}

const READY = `window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded &&
  Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected() &&
  Jupyter.notebook.kernel.info_reply.status === "ok"`;

const CODE_CELLS = `Jupyter.notebook.get_cells().filter((cell) => cell.cell_type === "code")`;

/** Before "Run All": note which request each cell last ran, and watch progress displays. */
const PREPARE = `(() => {
  window.ffBefore = ${CODE_CELLS}.map((cell) => cell.last_msg_id);
  window.ffProgress = {};
  window.ffFigures = {};
  const record = () => ${CODE_CELLS}.forEach((cell, i) => {
    if (!cell.element.hasClass("running")) return;
    // plotly keeps a drawn figure's traces on its div, as \`data\`.
    const plots = [...cell.output_area.element[0].querySelectorAll(".js-plotly-plot")];
    if (plots.length > 0) {
      const points = plots.flatMap((plot) => plot.data || [])
        .reduce((sum, trace) => sum + ((trace.x || trace.y || []).length), 0);
      const figures = window.ffFigures[i] = window.ffFigures[i] || [];
      const state = plots.length + ":" + points;
      if (!figures.includes(state)) figures.push(state);
    }
    const bars = [...cell.output_area.element[0].querySelectorAll("progress")];
    if (bars.length === 0) return;
    const states = window.ffProgress[i] = window.ffProgress[i] || [];
    const state = bars.map((bar) => bar.value + " " + bar.parentElement.textContent).join(" | ");
    if (!states.includes(state)) states.push(state);
  });
  window.ffObserver && window.ffObserver.disconnect();
  window.ffObserver = new MutationObserver(record);
  window.ffObserver.observe(document.getElementById("notebook-container"), {
    childList: true, subtree: true, characterData: true, attributes: true,
  });
})()`;

/**
 * Every code cell was sent to the kernel since {@linkcode PREPARE}, and both its reply and its
 * "idle" have come: the reply alone can overtake the cell's last outputs (another channel).
 */
const DONE = `${CODE_CELLS}.every((cell, i) => {
  if (cell.get_text().trim() === "") return true; // Jupyter sends an empty cell nowhere
  if (!cell.last_msg_id || cell.last_msg_id === window.ffBefore[i]) return false;
  const callbacks = Jupyter.notebook.kernel.get_callbacks_for_msg(cell.last_msg_id);
  return callbacks && callbacks.shell_done && callbacks.iopub_done &&
    !cell.element.hasClass("running");
})`;

const VIEW = `JSON.stringify({
  notebook: Jupyter.notebook.toJSON(),
  cells: ${CODE_CELLS}.map((cell, i) => {
    const element = cell.output_area.element[0];
    return {
      plots: element.querySelectorAll(".plot-container.plotly").length,
      svgs: element.querySelectorAll("svg.main-svg").length,
      errors: element.querySelectorAll(".output_error").length,
      notLoaded: [...element.querySelectorAll(".ff-plot")]
        .filter((div) => div.textContent.includes("plotly.js is not loaded")).length,
      plotlyNote: [...element.querySelectorAll(".ff-plotly-note")].map((n) => n.textContent).join(),
      progressBars: element.querySelectorAll("progress").length,
      progressStates: window.ffProgress[i] || [],
      figureStates: window.ffFigures[i] || [],
    };
  }),
})`;

/** Clicks "Cell > Run All" and waits until every code cell has run; returns what the page shows. */
async function runAll(page: Page): Promise<{ notebook: Notebook; cells: CellView[] }> {
  await page.waitFor(READY, "the notebook page and its kernel", 120_000);
  await page.evaluate(PREPARE);
  await page.click("#celllink");
  await page.click("#run_all_cells > a");
  await page.waitFor(DONE, "every cell run", RUN_TIMEOUT_MS);
  const view = JSON.parse(await page.evaluate<string>(VIEW));
  await page.evaluate("window.ffObserver.disconnect()");
  return view;
}

/** Checks one run; returns how often its busiest progress display changed while running. */
function check(name: string, run: number, notebook: Notebook, cells: CellView[]): number {
  const where = `${name}, run ${run}`;
  const code = notebook.cells.filter((cell) => cell.cell_type === "code");
  assertEquals(code.length, cells.length, `${where}: code cells`);
  const missing = missingOutputs(notebook);
  assertEquals(missing, [], `${where}: outputs missing: ${missing.join("; ")}`);
  const errors = outputs(notebook).filter(({ output }) => output.output_type === "error");
  assertEquals(errors.map(({ output }) => `${output.ename}: ${output.evalue}`), [], where);
  let figuresInAll = 0;
  let mostChanges = 0;
  let progressDisplays = 0;
  code.forEach((cell, i) => {
    const view = cells[i];
    const figures = (cell.outputs ?? []).filter((output) => output.data?.[PLOTLY_JSON]).length;
    figuresInAll += figures;
    assertEquals(view.errors, 0, `${where}: cell ${i} shows an error`);
    assertEquals(view.notLoaded, 0, `${where}: cell ${i} has a figure without plotly.js`);
    assertEquals(view.plots, figures, `${where}: cell ${i} drew ${view.plots} of ${figures} plots`);
    assertGreaterOrEqual(view.svgs, 2 * figures, `${where}: cell ${i}'s plots have their SVGs`);
    if (/trainingPlot\(/.test(text(cell.source))) {
      // A live plot: drawn while the cell ran, growing, and never more figures than it ends with
      // (each update replaced its figure instead of adding one).
      const states = view.figureStates.map(figureState);
      const seen = `${where}: cell ${i}'s live plot while it ran: ${view.figureStates.join(" → ")}`;
      assertGreaterOrEqual(new Set(states.map((s) => s.points)).size, 2, seen);
      assert(states.every((s) => s.figures <= figures), seen);
    }
    if ((cell.outputs ?? []).some((output) => output.metadata?.[PLOTLY_PART_METADATA])) {
      assertMatch(view.plotlyNote, /is on this page/, `${where}: cell ${i} loaded plotly.js`);
    }
    // Each progress display is updated in place to its end; on the way it is shown at its first
    // epoch and at each layer's end ("layer 2/2: ..." lines stay in it).
    const displays = (cell.outputs ?? []).filter((output) =>
      text(output.data?.["text/html"]).includes("<progress")
    );
    progressDisplays += displays.length;
    assertEquals(view.progressBars, displays.length, `${where}: cell ${i}'s progress on the page`);
    if (displays.length === 0) return;
    let steps = -1;
    for (const display of displays) {
      const plain = text(display.data?.["text/plain"]);
      assertMatch(plain, /done in \d/, `${where}: cell ${i}: progress left before its end`);
      steps += 1 + Number(plain.match(/layer \d+\/(\d+):/)?.[1] ?? 1);
    }
    const changes = view.progressStates.length - 1;
    assertGreaterOrEqual(
      changes,
      steps,
      `${where}: cell ${i}'s progress while it ran: ${view.progressStates.join(" → ")}`,
    );
    mostChanges = Math.max(mostChanges, changes);
  });
  if (code.some((cell) => /progressReporter\(/.test(text(cell.source)))) {
    assertGreater(progressDisplays, 0, `${where}: training showed no progress`);
  }
  assertGreater(figuresInAll + cells.length, 0);
  return mostChanges;
}

/**
 * File › Save and Checkpoint, then a reload: the saved outputs must draw every figure before
 * anything runs again (plotly.js is among them).
 */
async function saveAndReopen(page: Page, file: string): Promise<void> {
  await page.click("#filelink");
  await page.click("#save_checkpoint > a");
  await page.waitFor("Jupyter.notebook.dirty === false", "the notebook saved", 30_000);
  await page.reload();
  await page.waitFor(
    "window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded",
    "the saved notebook",
    60_000,
  );
  const figures = await page.evaluate<number>(
    `Jupyter.notebook.toJSON().cells.flatMap((cell) => cell.outputs || [])
      .filter((output) => output.data && output.data[${JSON.stringify(PLOTLY_JSON)}]).length`,
  );
  const plots = "document.querySelectorAll('.output_area .plot-container.plotly').length";
  await page.waitFor(`${plots} >= ${figures}`, "the saved figures drawn", 30_000).catch(() => {});
  assertEquals(await page.evaluate<number>(plots), figures, `${file} saved and reopened: plots`);
  const note = await page.evaluate<string>(
    `[...document.querySelectorAll(".ff-plotly-note")].map((n) => n.textContent).join()`,
  );
  if (figures > 0) assertMatch(note, /is on this page/, `${file} saved and reopened`);
  console.log(`  saved and reopened: ${figures} plots drawn from the saved outputs`);
}

/** A picture of the whole notebook page as it is now. */
async function screenshot(page: Page, path: string): Promise<void> {
  const height = await page.evaluate<number>(
    `document.getElementById("header").offsetHeight +
     document.getElementById("notebook").scrollHeight`,
  );
  await page.screenshot(path, [1280, Math.min(height, 16_000)]);
}

Deno.test({
  name: `every notebook in classic Jupyter in Chromium: Run All ${RUNS} times, reopened between`,
  ignore,
  async fn(t) {
    const mnist = sharedPath("data/mnist");
    const server = await startNotebookServer(listNotebooks(), {
      FF_QUICK: "1",
      ...(mnist ? { FF_MNIST_DIR: mnist } : {}),
    });
    let browser: Browser | undefined;
    try {
      browser = await Browser.launch();
      await Deno.mkdir(OUT_DIR, { recursive: true });
      let mostChanges = 0;
      for (const path of listNotebooks()) {
        const file = path.replace(/^.*\//, "");
        await t.step(file, async () => {
          const pages = [await browser!.newPage()];
          try {
            await pages[0].goto(server.notebookUrl(file));
            for (let run = 1; run <= RUNS; run++) {
              // Opened anew, the kernel still running: saved and reloaded, then a second tab.
              if (run === 2) await saveAndReopen(pages[0], file);
              if (run === 3) {
                pages.push(await browser!.newPage());
                await pages[1].goto(server.notebookUrl(file));
              }
              const page = pages.at(-1)!;
              const started = performance.now();
              const { notebook, cells } = await runAll(page);
              const changes = check(file, run, notebook, cells);
              mostChanges = Math.max(mostChanges, changes);
              assertEquals(page.exceptions, [], `${file}, run ${run}: uncaught page errors`);
              const plots = cells.reduce((sum, cell) => sum + cell.plots, 0);
              console.log(
                `  run ${run}: ${outputs(notebook).length} outputs, ${plots} plots drawn, ` +
                  `progress changed ${changes}× in place (${
                    ((performance.now() - started) / 1000).toFixed(1)
                  } s)`,
              );
            }
            const png = `${OUT_DIR}/${file.replace(/\.ipynb$/, ".png")}`;
            await screenshot(pages.at(-1)!, png);
            console.log(`  screenshot: ${png}`);
          } catch (e) {
            throw new Error(
              `${(e as Error).message}\n--- jupyter-notebook's last lines:\n${
                server.log.slice(-15).join("\n")
              }`,
            );
          } finally {
            for (const page of pages) await page.close().catch(() => {});
            await server.shutdownKernels();
          }
        });
      }
      assertGreaterOrEqual(mostChanges, 2, "some training progress changed at least twice");
      assertEquals(browser.requests(), [], "the pages asked for nothing beyond loopback");
    } finally {
      await browser?.close();
      await server.stop();
    }
  },
});

/** A notebook whose one training cell draws with `trainingPlot()`: 2 layers × 60 epochs. */
const LIVE_FIXTURE = new URL("./fixtures/live_plot.ipynb", import.meta.url).pathname;
const LIVE_EPOCHS = 60;

Deno.test({
  name: "a live loss plot in classic Jupyter in Chromium: one figure that grows while its cell " +
    "runs, Run All twice",
  ignore,
  async fn() {
    const mnist = sharedPath("data/mnist");
    const server = await startNotebookServer([LIVE_FIXTURE], {
      FF_QUICK: "1",
      ...(mnist ? { FF_MNIST_DIR: mnist } : {}),
    });
    let browser: Browser | undefined;
    try {
      browser = await Browser.launch();
      const page = await browser.newPage();
      await page.goto(server.notebookUrl("live_plot.ipynb"));
      for (let run = 1; run <= 2; run++) {
        const where = `live_plot.ipynb, run ${run}`;
        const { notebook, cells } = await runAll(page);
        check("live_plot.ipynb", run, notebook, cells);
        assertEquals(page.exceptions, [], `${where}: uncaught page errors`);
        // The training cell: exactly one figure on the page at every moment it was seen, holding
        // at least two different numbers of points before the cell finished...
        const view = cells.at(-1)!;
        const states = view.figureStates.map(figureState);
        const seen = `${where}: the live plot while it ran: ${view.figureStates.join(" → ")}`;
        assert(states.length > 0 && states.every((s) => s.figures === 1), seen);
        assertGreaterOrEqual(new Set(states.map((s) => s.points)).size, 2, seen);
        // ...and one figure at the end, in the page and in the notebook, with every epoch.
        assertEquals(view.plots, 1, `${where}: figures at the end`);
        const figures = (notebook.cells.at(-1)!.outputs ?? [])
          .map((output) => output.data?.[PLOTLY_JSON] as { data: { x: number[] }[] } | undefined)
          .filter((figure) => figure !== undefined);
        assertEquals(figures.length, 1, `${where}: figure outputs`);
        assertEquals(figures[0].data.map((trace) => trace.x.length), [LIVE_EPOCHS, LIVE_EPOCHS]);
        console.log(`  run ${run}: the live plot grew ${view.figureStates.join(" → ")}`);
      }
    } finally {
      await browser?.close();
      await server.stop();
    }
  },
});
