/**
 * The core's one import: TensorFlow.js, pinned, so that lib/core/ still works when the folder is
 * copied on its own into a project with no deno.json (`--no-config`).
 *
 * Importing tfjs's cpu backend registers it: with nothing else loaded, the core runs on first
 * use, in plain JavaScript. lib/backends/ adds the fast ones.
 *
 * @module
 */
export * as tf from "npm:@tensorflow/tfjs-core@4.22.0";
export { MathBackendCPU } from "npm:@tensorflow/tfjs-backend-cpu@4.22.0";
