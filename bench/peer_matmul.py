#!/usr/bin/env python3
"""Peer benchmark: PyTorch CPU matmul vs `deviate bench matmul`, same run.

Runs `deviate bench matmul --json` (the products a lesson runs: decoding, a training pass and its
backward, the vocabulary head, MiniLM), times torch.matmul on the same shapes and layouts (float32,
the right factor transposed where Deviate's is), and prints GFLOP/s and the ratio: the kernels'
speed apart from the models around them.

  .venv-bench/bin/pip install -r bench/requirements.txt
  .venv-bench/bin/python bench/peer_matmul.py [--deviate PATH] [--threads N]
"""
import statistics
import time

from peer_common import deviate_bench, parser


def gflops(p, repeats):
    import torch
    a = torch.rand(p["m"], p["k"])
    b = torch.rand(p["n"], p["k"]).T if p["transposed"] else torch.rand(p["k"], p["n"])
    flops = 2.0 * p["m"] * p["k"] * p["n"]

    def run(count):
        start = time.perf_counter()
        for _ in range(count):
            torch.matmul(a, b)
        return time.perf_counter() - start
    count = max(1, min(1000, int(0.2 / max(run(1), 1e-6))))
    return statistics.median(count * flops / run(count) / 1e9 for _ in range(repeats))


def main():
    args = parser().parse_args()
    ours = deviate_bench(args, "matmul")
    import torch
    torch.set_num_threads(args.threads)
    print(f"f32 products, torch threads {args.threads}, median of {args.repeats}")
    print(f"{'product':<38} {'m×k×n':>16} {'deviate':>8} {'torch':>7} {'ratio':>6}")
    for p in ours["products"]:
        peer = gflops(p, args.repeats)
        shape = f"{p['m']}×{p['k']}×{p['n']}"
        print(f"{p['name']:<38} {shape:>16} {p['gflops']:>8.1f} {peer:>7.1f} {p['gflops'] / peer:>5.2f}x")


if __name__ == "__main__":
    main()
