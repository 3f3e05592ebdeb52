#!/usr/bin/env bash
# The GPU bench, for a machine with a GPU: seconds per epoch of the post's full-batch step and of
# the paper recipe's mini-batch epoch through WebGPU (tfjs-backend-webgpu on Deno's wgpu: Vulkan
# on Linux, Metal on macOS, Direct3D 12 on Windows), at the post's and the paper's sizes (50,000
# images). Prints the adapter and a Markdown table for docs/performance.md, under "WebGPU".
# Stops with one line when WebGPU finds only a software adapter (such as Mesa's lavapipe), unless
# told --allow-software (then use a few hundred images: lavapipe takes seconds per batch).
#   bench/gpu.sh [--allow-software] [--images N] [--batch-images N] [--epochs N]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v deno >/dev/null; then
  echo "bench/gpu.sh: needs Deno 2 (npm install -g deno@2, or see https://deno.com)" >&2
  exit 1
fi
hardware=(--hardware-only)
args=()
for arg in "$@"; do
  if [ "$arg" = "--allow-software" ]; then hardware=(); else args+=("$arg"); fi
done
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
# wgpu's GL probe complains when XDG_RUNTIME_DIR is unset; nothing here needs its contents.
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" exec deno task bench:gpu --backend webgpu \
  "${hardware[@]}" "${args[@]}"
