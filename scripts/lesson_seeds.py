#!/usr/bin/env python3
"""Writes www/data/lesson_seeds.json, the page's strip of the published lesson seeds, from a
lesson experiment's merged report (scripts/lesson-experiment.sh writes DIR/all.json): each
seed's DDPO − DPO probe slope at the lesson's last step, and the paired summary.
tests/lesson_seeds.rs checks the shipped file against docs/lesson-experiment/format-2/all.json."""
import json
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "docs/lesson-experiment/format-2/all.json"
out = sys.argv[2] if len(sys.argv) > 2 else "www/data/lesson_seeds.json"
report = json.load(open(src))
step = report["config"]["steps"]
slope = {(r["seed"], r["method"]): r["mechanism_slope"] for r in report["runs"] if r["step"] == step}
paired = next(p for p in report["paired"] if p["metric"] == "mechanism_slope" and (p["a"], p["b"]) == ("ddpo", "dpo"))
data = {
    "source": src,
    "step": step,
    "learning_rate": report["config"]["train"]["learning_rate"],
    "seeds": [{"seed": s, "difference": slope[(s, "ddpo")] - slope[(s, "dpo")]} for s in report["seeds"]],
    "mean_diff": paired["mean_diff"],
    "ci95": paired["ci95"],
    "wins": paired["wins"],
    "n": paired["n"],
}
with open(out, "w") as f:
    json.dump(data, f, indent=1)
    f.write("\n")
