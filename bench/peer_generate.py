#!/usr/bin/env python3
"""Peer benchmark: Hugging Face transformers (PyTorch CPU) vs `deviate bench generate`, same run.

Runs `deviate bench generate --json` (which returns the prompt's token ids), loads the same GGUF
with transformers (dequantised to float32), and generates the same number of new tokens from the
same ids at batch 1 and batch 8 (sampling, every continuation forced to full length), then prints
tokens/s and the ratio.

Set up once (a local venv):
  python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements.txt
Run (after `make models`):
  .venv-bench/bin/python bench/peer_generate.py [--deviate PATH] [--threads N]
"""
from peer_common import ROOT, deviate_bench, median_rate, parser

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def rate(model, ids, batch, tokens, repeats):
    import torch

    def run():
        with torch.no_grad():
            out = model.generate(ids, do_sample=True, temperature=0.8, top_k=50, top_p=0.95,
                                 repetition_penalty=1.1, max_new_tokens=tokens, min_new_tokens=tokens,
                                 num_return_sequences=batch, pad_token_id=0)
        return (out.shape[1] - ids.shape[1]) * out.shape[0]
    return median_rate(run, repeats)


def main():
    p = parser()
    p.add_argument("--tokens", type=int, default=64)
    args = p.parse_args()
    ours = deviate_bench(args, "generate", "--tokens", str(args.tokens))

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(ROOT / "www/models"), gguf_file=GGUF, dtype=torch.float32)
    model.eval()
    ids = torch.tensor([ours["prompt_ids"]])
    rate(model, ids, 1, 8, 1)  # warm-up
    peer = {b: rate(model, ids, b, args.tokens, args.repeats) for b in (1, 8)}

    print(f"prompt {ids.shape[1]} tokens, {args.tokens} new tokens, torch threads {args.threads}")
    print(f"{'batch':>5} {'deviate tok/s':>14} {'transformers tok/s':>19} {'ratio':>6}")
    for b, key in ((1, "batch_1"), (8, "batch_8")):
        print(f"{b:>5} {ours[key]:>14.1f} {peer[b]:>19.1f} {ours[key] / peer[b]:>6.2f}x")


if __name__ == "__main__":
    main()
