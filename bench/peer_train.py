#!/usr/bin/env python3
"""Peer benchmark: one DDPO step with PyTorch + peft LoRA vs `deviate bench train`, same run.

Runs `deviate bench train --json` (which returns the step's pairs as token ids and weights), loads
the same GGUF with transformers (float32), adds LoRA with peft (r 8, alpha 16, q_proj and v_proj,
dropout 0), computes the reference log-probs once with the adapters disabled (as Deviate caches
them), then times the step: policy log-probs of the 8 sequences, the DDPO loss, backward, gradient
clipping at norm 1 and AdamW. Prints seconds per step and the ratio.

  .venv-bench/bin/pip install -r bench/requirements.txt
  .venv-bench/bin/python bench/peer_train.py [--deviate PATH] [--threads N]
"""
import statistics
import time

from peer_common import ROOT, deviate_bench, parser

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def batch(pairs):
    import torch
    rows = [(p["prompt"], p["chosen"]) for p in pairs] + [(p["prompt"], p["rejected"]) for p in pairs]
    t = max(len(a) + len(b) for a, b in rows) - 1
    ids = torch.zeros(len(rows), t, dtype=torch.long)
    targets = torch.zeros(len(rows), t, dtype=torch.long)
    mask = torch.zeros(len(rows), t)
    for r, (prompt, completion) in enumerate(rows):
        seq = prompt + completion
        ids[r, :len(seq) - 1] = torch.tensor(seq[:-1])
        targets[r, :len(seq) - 1] = torch.tensor(seq[1:])
        mask[r, len(prompt) - 1:len(seq) - 1] = 1
    return ids, targets, mask


def logps(model, ids, targets, mask):
    import torch
    logits = model(input_ids=ids).logits
    token = torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (token * mask).sum(-1)


def main():
    p = parser()
    args = p.parse_args()
    ours = deviate_bench(args, "train")

    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(ROOT / "www/models"), gguf_file=GGUF, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    pairs = ours["pairs"]
    n = len(pairs)
    ids, targets, mask = batch(pairs)
    weight = torch.tensor([p["weight"] for p in pairs])
    with torch.no_grad(), model.disable_adapter():
        ref = logps(model, ids, targets, mask)
    optim = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=5e-4, weight_decay=0.0)

    def step():
        pol = logps(model, ids, targets, mask)
        z = 0.1 * ((pol[:n] - ref[:n]) - (pol[n:] - ref[n:]))
        loss = -(weight * F.logsigmoid(z)).mean()
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([q for q in model.parameters() if q.requires_grad], 1.0)
        optim.step()

    step()  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peer = statistics.median(times)
    print(f"DDPO step, {n} pairs, {ids.shape[1] + 1} tokens longest, LoRA r8 q+v, torch threads {args.threads}")
    print(f"deviate {ours['step_seconds']:.2f} s, PyTorch+peft {peer:.2f} s, ratio {ours['step_seconds'] / peer:.2f}x (lower is faster)")


if __name__ == "__main__":
    main()
