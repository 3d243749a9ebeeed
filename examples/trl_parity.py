#!/usr/bin/env python3
"""Records what TRL + peft do on the playground's first steps: the reference that `make test`
checks the playground's trainer against without PyTorch (tests/trl_parity.rs). Run by
`make test-trl`, from the repository root, after `make models` and a `deviate` build:

    DEVIATE_BIN=…/debug/deviate python examples/trl_parity.py [--check-only]

For DDPO and DORPO: the pairs `deviate pairs --method M --seed 0` writes, 3 steps of 2 pairs in
the file's order with examples/trl_ddpo.py's trainers (LoRA r 8, α 16 on q and v, lr 5e-4,
constant, AdamW ε 1e-8, `max_grad_norm` 1.0), from peft adapters drawn with torch seed 0 whose
B is then set to small seeded values (so the first step already moves the policy away from the
reference and every factor has a gradient). The start adapters are saved in the playground's
layout (tests/reference/trl_parity_start.safetensors); each step's loss, reward margin and
global gradient norm before clipping, and the adapters after every step (the sum of squares of
each tensor and 256 sampled entries), go to tests/reference/trl_parity.json.

Then `deviate train --load` of those adapters runs the same steps and the two are compared
(the same tolerances as the Rust test), as a table; `--check-only` skips the recording.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

import torch
from datasets import Dataset
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trl_ddpo import load_model, peft_to_deviate, trainer_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GGUF = ROOT / "www/models/SmolLM2-135M-Instruct.Q4_1.gguf"
BIN = os.environ.get("DEVIATE_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/deviate/target")) / "debug/deviate")
START = ROOT / "tests/reference/trl_parity_start.safetensors"
REFERENCE = ROOT / "tests/reference/trl_parity.json"
STEPS, PAIRS, LR, SEED, SAMPLES = 3, 2, 5e-4, 0, 256
# B's start: N(0, B_STD) drawn with torch seed 1 (peft's B = 0 would make step 1 the reference).
B_STD = 2e-3
METHODS = ["ddpo", "dorpo"]


def deviate(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def rows(method):
    return [json.loads(line) for line in deviate("pairs", "--method", method, "--seed", str(SEED)).splitlines()]


class Recorder(TrainerCallback):
    """Each step's loss and margin (from the trainer's last batch), its pre-clip gradient norm
    (the Trainer's `grad_norm` log), and the adapters after it."""

    def __init__(self, method):
        self.method, self.trainer, self.steps, self.adapters, self.each_step = method, None, [], None, []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.each_step.append(summary(peft_to_deviate(model)))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "grad_norm" in logs:
            terms = self.trainer.last_terms
            self.steps.append({"step": state.global_step, "loss": terms["loss"], "margin": margin(self.method, terms),
                               "grad_norm": float(logs["grad_norm"])})

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.adapters = peft_to_deviate(model)


def margin(method, t):
    """rewards/margins as the playground reports it: β·((c − c_ref) − (r − r_ref)) for DDPO,
    λ·(m_c − m_r) for DORPO (TRL's ORPO rewards), averaged over the batch's pairs."""
    if method == "ddpo":
        m = [t["beta"] * ((c - rc) - (r - rr)) for c, r, rc, rr in zip(t["chosen"], t["rejected"], t["ref_chosen"], t["ref_rejected"])]
    else:
        m = [t["lambda"] * (c - r) for c, r in zip(t["mean_chosen"], t["mean_rejected"])]
    return sum(m) / len(m)


def start_adapters(model):
    """peft's A (drawn when the trainer wrapped the model, torch seed 0) and a small seeded B."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * B_STD)
    return peft_to_deviate(model)


def record(method, tmp, draw):
    """TRL's steps from the start adapters: drawn here when `draw`, else read from START."""
    torch.manual_seed(SEED)
    model, tokenizer = load_model(GGUF)
    data = rows(method)[:STEPS * PAIRS]
    args = Namespace(pairs_per_step=PAIRS, steps=STEPS, learning_rate=LR, beta=0.1, lam=0.25, seed=SEED, out=str(tmp / method),
                     adapters=None if draw else str(START))
    trainer = trainer_for(method, model, tokenizer, Dataset.from_list(data), args)
    start = start_adapters(trainer.model) if draw else peft_to_deviate(trainer.model)
    recorder = Recorder(method)
    recorder.trainer = trainer
    trainer.add_callback(recorder)
    trainer.train()
    assert len(recorder.steps) == STEPS == len(recorder.each_step), recorder.steps
    return start, recorder.steps, recorder.adapters, recorder.each_step


def summary(adapters):
    """Each tensor's sum of squares, and SAMPLES entries drawn with a fixed seed."""
    names = sorted(adapters)
    rng = random.Random(0)
    samples = []
    for _ in range(SAMPLES):
        name = rng.choice(names)
        index = rng.randrange(adapters[name].numel())
        samples.append([name, index, float(adapters[name].flatten()[index])])
    return {"sum_squares": {n: float((adapters[n].double() ** 2).sum()) for n in names}, "samples": samples}


def deviate_run(method, tmp):
    """`deviate train` from the start adapters: each step's metrics and the adapters after them."""
    out = tmp / f"deviate-{method}.safetensors"
    lines = deviate("train", "--method", method, "--steps", str(STEPS), "--pairs-per-step", str(PAIRS), "--seed", str(SEED),
                    "--learning-rate", str(LR), "--load", str(START), "--save", str(out)).splitlines()
    return [json.loads(line) for line in lines], {k: v for k, v in load_file(out).items()}


def compare(reference):
    """The table of TRL against `deviate train`; fails past the Rust test's tolerances."""
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            steps, adapters = deviate_run(method, Path(tmp))
            ref = reference[method]
            print(f"{method}: step | loss TRL / deviate | margin TRL / deviate | grad norm TRL / deviate")
            for want, got in zip(ref["steps"], steps):
                print(f"  {want['step']} | {want['loss']:.6f} / {got['loss']:.6f} | {want['margin']:+.6f} / {got['rewards/margins']:+.6f}"
                      f" | {want['grad_norm']:.6f} / {got['grad_norm']:.6f}")
                ok &= rel(got["loss"], want["loss"]) <= 1e-4 and abs(got["rewards/margins"] - want["margin"]) <= margin_tolerance(want["margin"], 1e-4)
                ok &= rel(got["grad_norm"], want["grad_norm"]) <= 1e-3
            distance = frobenius(adapters, ref["adapters"])
            print(f"  adapters after step {STEPS}: relative Frobenius distance {distance:.2e} (sampled), tensors {len(adapters)}")
            ok &= distance <= 1e-4
    return ok


def margin_tolerance(margin, tolerance):
    """A margin is β times a difference of four summed log-probabilities of ~100 nats, each
    rounded in float32 to about 1e-5 nats: relative `tolerance`, plus 0.2·`tolerance` absolute
    (2e-5 at 1e-4) for margins near 0, as at the first steps."""
    return tolerance * abs(margin) + 0.2 * tolerance


def rel(x, y):
    return abs(x - y) / max(abs(y), 1e-12)


def frobenius(adapters, summary):
    """√Σ(x − y)² / √Σy² over the sampled entries, and the largest relative difference of a tensor's sum of squares."""
    num = sum((float(adapters[n].flatten()[i]) - v) ** 2 for n, i, v in summary["samples"])
    den = sum(v * v for _, _, v in summary["samples"])
    norms = max(rel(float((adapters[n].double() ** 2).sum()), s) for n, s in summary["sum_squares"].items())
    return max((num / den) ** 0.5, norms / 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-only", action="store_true", help="compare deviate with the committed reference only")
    args = parser.parse_args()
    if not args.check_only:
        reference = {"settings": {"steps": STEPS, "pairs_per_step": PAIRS, "learning_rate": LR, "seed": SEED, "b_std": B_STD,
                                  "beta": 0.1, "lambda": 0.25, "lora": {"rank": 8, "alpha": 16, "targets": ["q", "v"]},
                                  "versions": {m: __import__(m).__version__ for m in ["torch", "transformers", "trl", "peft"]}}}
        with tempfile.TemporaryDirectory() as tmp:
            for method in METHODS:
                draw = method == METHODS[0]
                start, steps, adapters, each_step = record(method, Path(tmp), draw)
                if draw:
                    save_file(start, START)
                else:
                    first = load_file(START)
                    assert all(torch.equal(first[k], start[k]) for k in first), "the start adapters did not survive the round trip"
                # `adapters`: after the last step (what tests/trl_parity.rs compares); `adapters_after_each_step`: the same summary after every step.
                reference[method] = {"steps": steps, "adapters": summary(adapters), "adapters_after_each_step": each_step}
        REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
        print(f"trl_parity: wrote {REFERENCE.relative_to(ROOT)} and {START.relative_to(ROOT)}")
    ok = compare(json.loads(REFERENCE.read_text()))
    print("trl_parity: ok" if ok else "trl_parity: deviate differs from TRL past the tolerances")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
