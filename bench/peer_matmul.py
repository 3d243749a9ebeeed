#!/usr/bin/env python3
"""Peer benchmark: PyTorch CPU matmul vs `deviate bench matmul`, same run.

Runs `deviate bench matmul --json` (the products a lesson runs: decoding, a training pass and its
backward, the vocabulary head, MiniLM), times torch.matmul on the same shapes and layouts (float32,
the right factor transposed where Deviate's is), and prints GFLOP/s and the ratio: the kernels'
speed apart from the models around them.

  .venv-bench/bin/pip install -r bench/requirements.txt
  .venv-bench/bin/python bench/peer_matmul.py [--deviate PATH] [--threads N]
"""
import time

from peer_common import deviate_bench, median_rate, parser


def gflops(p, repeats):
    """GFLOP/s of one product (the median of `repeats` timings of about 0.2 s each), as Deviate's."""
    import torch
    a = torch.rand(p["m"], p["k"])
    b = torch.rand(p["n"], p["k"]).T if p["transposed"] else torch.rand(p["k"], p["n"])
    gflop = 2.0 * p["m"] * p["k"] * p["n"] / 1e9
    start = time.perf_counter()
    torch.matmul(a, b)
    count = max(1, min(1000, int(0.2 / max(time.perf_counter() - start, 1e-6))))

    def run():
        for _ in range(count):
            torch.matmul(a, b)
        return count * gflop
    return median_rate(run, repeats)


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
