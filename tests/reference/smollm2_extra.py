#!/usr/bin/env python3
"""Writes tests/reference/smollm2_reference.json from the independent numpy forward in
shared/reference/smollm2_numpy.py: dequantised values of a few GGUF blocks (gguf.quants) and the
first step's logits for the reference prompt, plus the greedy ids it prints.

  .venv-bench/bin/pip install gguf numpy tokenizers
  .venv-bench/bin/python tests/reference/smollm2_extra.py www/models/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import json, runpy, sys
from pathlib import Path
import numpy as np

gguf_path = sys.argv[1]
script = Path(__file__).resolve().parents[3] / "shared/reference/smollm2_numpy.py"
prompt = "Once upon a time, there was a little"
sys.argv = [str(script), gguf_path, prompt, "20"]
g = runpy.run_path(str(script), run_name="__main__")
W, tk, forward = g["W"], g["tk"], g["forward"]
ids = tk.encode(prompt).ids
logits = forward(ids)
order = np.argsort(-logits)[:20]
sample_idx = list(range(0, len(logits), 491))
blocks = {}
for name in ["blk.0.attn_q.weight", "blk.29.ffn_down.weight", "token_embd.weight", "output_norm.weight"]:
    flat = W[name].reshape(-1)
    blocks[name] = {"first64": [float(x) for x in flat[:64]], "at_100000": [float(x) for x in flat[100000:100032]]}
out = {
    "source": "shared/reference/smollm2_numpy.py (float64 numpy forward, gguf.quants dequantize)",
    "prompt": prompt,
    "prompt_ids": ids,
    "greedy_ids": [int(i) for i in g["out"][len(ids):]],
    "first_logits_top20": [[int(i), float(logits[i])] for i in order],
    "first_logits_sample_step": 491,
    "first_logits_sample": [float(logits[i]) for i in sample_idx],
    "dequantized": blocks,
}
Path(__file__).with_name("smollm2_reference.json").write_text(json.dumps(out, indent=1) + "\n")
print("wrote", Path(__file__).with_name("smollm2_reference.json"))
