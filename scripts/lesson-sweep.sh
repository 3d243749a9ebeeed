#!/usr/bin/env bash
# The lesson's learning rate under the format-2 trainer (TRL + peft defaults), chosen by a rule
# fixed before any run (docs/lesson-experiment.md, "Choosing the learning rate"): DPO and DDPO at
# the lesson's settings (6 steps of 2 pairs, probe every 2 steps on 4 prompts) for each learning
# rate in 5e-4 1e-3 2e-3 4e-3 and seeds 100-104 (never the published seeds 0-9), with a token
# held-out evaluation (1 prompt, 2 continuations of 8 tokens: the probe is what the rule reads).
# Runs go side by side on two single-threaded processes; reports already in DIR are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${DEVIATE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/deviate/target}/debug/deviate}"
DIR="${1:-docs/lesson-experiment/sweep}"
mkdir -p "$DIR"
run() {
  for lr in "$@"; do
    for seed in 100 101 102 103 104; do
      out="$DIR/lr$lr-$seed.json"
      [ -f "$out" ] && continue
      RAYON_NUM_THREADS=1 "$BIN" experiment --methods dpo,ddpo --seed "$seed" --learning-rate "$lr" --steps 6 \
        --pairs-per-step 2 --probe-every 2 --probe-prompts 4 --eval-every 6 --eval-prompts 1 --samples 2 \
        --eval-tokens 8 --out "$out.part" 2>>"$DIR/lr$lr.log" >/dev/null
      mv "$out.part" "$out"
    done
  done
}
run 5e-4 2e-3 &
run 1e-3 4e-3 &
wait
for lr in 5e-4 1e-3 2e-3 4e-3; do
  echo "== learning rate $lr"
  "$BIN" compare "$DIR"/lr$lr-*.json | tail -n 12
done
