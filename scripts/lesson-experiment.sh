#!/usr/bin/env bash
# The README's "What the toy experiment shows": DPO vs DDPO and ORPO vs DORPO over 10 seeds at
# the lesson's settings, natively. Settings chosen before any result was seen (commit of this
# file) and not changed after: the lesson's training (6 steps of 2 pairs, LoRA r 8 on q and v,
# lr 5e-4, β 0.1, λ 0.25), the probe every 2 steps on the good responses of the first 4
# training prompts, and held-out diversity scored at step 0 and after the last step with the
# CLI's default evaluation (8 held-out prompts, 4 continuations of 40 tokens each, T = 1).
# Every run is reported: the JSON holds every seed's rows; stdout ends with the paired lines.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${DEVIATE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/deviate/target}/debug/deviate}"
OUT="${1:-test-output/lesson-experiment.json}"
mkdir -p "$(dirname "$OUT")"
"$BIN" experiment --methods dpo,ddpo,orpo,dorpo --seeds 0-9 --steps 6 --pairs-per-step 2 \
  --probe-every 2 --probe-prompts 4 --eval-every 6 --eval-prompts 8 --samples 4 --eval-tokens 40 --out "$OUT"
