#!/usr/bin/env bash
# The README's "What the toy experiment shows": DPO vs DDPO and ORPO vs DORPO over 10 seeds at
# the lesson's settings, natively. Settings chosen before any result was seen and not changed
# after: the lesson's training (6 steps of 2 pairs, LoRA r 8 on q and v, β 0.1, λ 0.25, the
# learning rate LR: the lesson's, chosen by scripts/lesson-sweep.sh's rule), the probe every 2
# steps on the good responses of the first 4 training prompts, and held-out diversity scored at
# step 0 and after the last step with the CLI's default evaluation (8 held-out prompts, 4
# continuations of 40 tokens each, T = 1). The trainer is format 2's (TRL + peft defaults);
# docs/lesson-experiment/format-1/ holds the same runs under format 1's (burn's defaults).
#
# Each method trains on its own from the same base model, so a method's numbers do not depend
# on which other methods share its run: the two method pairs run as two single-threaded
# processes side by side (faster on 2 cores than one run on both), one seed per report so a
# partial run keeps what it finished (seeds already in DIR are skipped), and `deviate compare` merges the reports into the same
# rows and paired comparisons one run would print. Every run is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${DEVIATE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/deviate/target}/debug/deviate}"
DIR="${1:-docs/lesson-experiment/format-2}"
LR="${LR:?set LR to the lesson learning rate (docs/lesson-experiment.md)}"
mkdir -p "$DIR"
run_pair() {
  for seed in 0 1 2 3 4 5 6 7 8 9; do
    [ -f "$DIR/$1-$seed.json" ] && continue
    RAYON_NUM_THREADS=1 "$BIN" experiment --methods "$1" --seed "$seed" --learning-rate "$LR" --steps 6 --pairs-per-step 2 \
      --probe-every 2 --probe-prompts 4 --eval-every 6 --eval-prompts 8 --samples 4 --eval-tokens 40 \
      --out "$DIR/$1-$seed.json.part" 2>>"$DIR/$1.log" >/dev/null
    mv "$DIR/$1-$seed.json.part" "$DIR/$1-$seed.json"
  done
}
run_pair dpo,ddpo &
run_pair orpo,dorpo &
wait
"$BIN" compare "$DIR"/*-[0-9].json --out "$DIR/all.json"
echo "The page's strip of published seeds (www/data/lesson_seeds.json) comes from this report with:" >&2
echo "  python3 scripts/lesson_seeds.py $DIR/all.json" >&2
