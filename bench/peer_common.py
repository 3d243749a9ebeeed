"""What the peer benchmarks share: options, running `deviate bench ... --json`, medians."""
import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parser():
    p = argparse.ArgumentParser()
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/deviate/target"))
    # The dev profile builds every dependency (burn, its kernels) at opt-level 3, without debug assertions.
    p.add_argument("--deviate", default=str(target / "debug" / "deviate"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    return p


def deviate_bench(args, what, *extra):
    """Runs `deviate bench WHAT --json` from the repository root and returns its report."""
    cmd = [args.deviate, "bench", what, "--json", "--repeats", str(args.repeats), *extra]
    return json.loads(subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout)


def median_rate(run, repeats):
    """Median of `items / seconds` over `repeats` calls of `run()`, which returns its item count."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        items = run()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)
