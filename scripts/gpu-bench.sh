#!/usr/bin/env bash
# The CLI on a GPU beside burn Flex on the CPU, in one prepared run (aim: under 8 minutes on a
# 16-core machine): builds `deviate` (release), then prints, for --device wgpu and --device flex,
# the lesson figures (`deviate bench lesson`) and the work per step (`deviate bench work`:
# dispatches and readbacks). Needs the models (`make models`, or www/models/ copied in) and a
# Vulkan/Metal/DX12 driver. On a machine whose Vulkan loader is missing, unpack one first (see
# the device notes); VK_DRIVER_FILES picks the driver, e.g. NVIDIA's nvidia_icd.json.
#   scripts/gpu-bench.sh [OUT_DIR]      JSON reports land in OUT_DIR (default: test-output/gpu-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-test-output/gpu-bench}
mkdir -p "$out"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/deviate/target}
bin=$CARGO_TARGET_DIR/release/deviate

for f in SmolLM2-135M-Instruct.Q4_1.gguf model.safetensors tokenizer.json; do
  [ -f "www/models/$f" ] || { echo "gpu-bench: www/models/$f is missing: run make models" >&2; exit 1; }
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
start=$(date +%s)
cargo build --release --bin deviate --offline 2>/dev/null || cargo build --release --bin deviate
echo "gpu-bench: built in $(( $(date +%s) - start )) s"

for device in wgpu flex; do
  echo "== --device $device"
  "$bin" --device "$device" bench work --json > "$out/work-$device.json"
  "$bin" --device "$device" bench work
  "$bin" --device "$device" bench lesson --json > "$out/lesson-$device.json"
  python3 - "$out/lesson-$device.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ["tokens_per_second_batch_1", "tokens_per_second_batch_4", "lane_step_seconds", "eval_seconds", "sentences_per_second"]:
    print(f"  {key:28} {r[key]:10.3f}")
PY
done
echo "gpu-bench: done in $(( $(date +%s) - start )) s; reports in $out"
