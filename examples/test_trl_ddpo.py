#!/usr/bin/env python3
"""Checks examples/trl_ddpo.py (`make test-trl`; needs PyTorch, so not in CI).

On a tiny random Llama (SmolLM2's tokenizer, 2 layers) and the first pairs of `deviate pairs`:
two steps of DDPOTrainer and of DORPOTrainer (the second: policy ≠ reference), the last loss equal to the engine's
(`deviate loss`, src/engine/losses.rs) for the same log-probabilities, and different from the
unweighted loss (the weights reach it). Then the playground's GGUF loads and takes two DDPO steps
(the second away from the reference). Last, "Run this in TRL": `deviate export-trl` of the lesson's
link, each lane's files fed to the script as `--config`, give the losses of the first two steps that
the page's lane (`deviate train --link … --lane K`) gives, within 1e-4.
Run from the repository root after `make models` and a `deviate` build:

    DEVIATE_BIN=target/debug/deviate python examples/test_trl_ddpo.py
"""
import json
import os
import subprocess
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trl_ddpo import load_model, trainer_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GGUF = ROOT / "www/models/SmolLM2-135M-Instruct.Q4_1.gguf"
BIN = os.environ.get("DEVIATE_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/deviate/target")) / "debug/deviate")
PAIRS = 4
TOLERANCE = 1e-5


def deviate(*args, stdin=None):
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def pairs(method):
    rows = [json.loads(line) for line in deviate("pairs", "--method", method).splitlines()]
    rows = rows[:PAIRS]
    assert len({r["weight"] for r in rows}) > 1, "these pairs' weights are all equal: the check would be blind"
    return rows


def tiny_model(folder):
    """A random 2-layer Llama with SmolLM2's tokenizer, saved in `folder` (no hub needed)."""
    _, tokenizer = load_model(GGUF)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def one_step(method, model_path, rows, out):
    model, tokenizer = load_model(model_path)
    args = Namespace(pairs_per_step=len(rows), steps=2, learning_rate=5e-4, beta=0.1, lam=0.25, seed=0, out=out)
    trainer = trainer_for(method, model, tokenizer, Dataset.from_list(rows), args)
    trainer.train()
    return trainer.last_terms


def engine_loss(method, terms):
    keys = {"ddpo": ["chosen", "rejected", "ref_chosen", "ref_rejected", "weight", "beta"],
            "dorpo": ["mean_chosen", "mean_rejected", "weight", "nll", "lambda"]}[method]
    weighted = json.loads(deviate("loss", "--method", method, stdin=json.dumps({k: terms[k] for k in keys})))["loss"]
    plain = json.loads(deviate("loss", "--method", method.removeprefix("d"), stdin=json.dumps({k: terms[k] for k in keys})))["loss"]
    return weighted, plain


def exported_lanes(tmp):
    """The lesson link's lanes through `deviate export-trl` and trl_ddpo.py's `--config`: TRL's
    losses of the first two steps against `deviate train --link … --lane K --steps 2`."""
    link = deviate("link", "encode", stdin=json.dumps({"lesson": True})).strip()
    out = Path(tmp) / "export"
    deviate("export-trl", "--link", link, "--out", str(out))
    (out / GGUF.name).symlink_to(GGUF)
    lanes = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in lanes] == ["lane-1-dpo", "lane-2-ddpo"], lanes
    for k, lane in enumerate(lanes, start=1):
        config = json.loads((lane / "lane.json").read_text())
        config.update(steps=2, out=str(Path(tmp) / lane.name))
        config_path = lane / "two-steps.json"
        config_path.write_text(json.dumps(config))
        result = subprocess.run([sys.executable, str(ROOT / "examples/trl_ddpo.py"), "--config", str(config_path)],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        trl = [float(x) for x in result.stdout.split("losses ")[1].split()]
        native = [json.loads(line)["loss"] for line in deviate("train", "--link", link, "--lane", str(k), "--steps", "2").splitlines()]
        print(f"{lane.name}: losses of steps 1 and 2, TRL {trl}, deviate {native}")
        for step, (a, b) in enumerate(zip(trl, native), start=1):
            assert abs(a - b) <= 1e-4 * abs(b), f"{lane.name} step {step}: TRL {a} vs deviate {b}"
        assert len(trl) == len(native) == 2


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tiny = tiny_model(Path(tmp) / "tiny")
        for method in ["ddpo", "dorpo"]:
            terms = one_step(method, tiny, pairs(method), str(Path(tmp) / method))
            weighted, plain = engine_loss(method, terms)
            print(f"{method}: TRL subclass {terms['loss']:.7f}, engine {weighted:.7f}, unweighted {plain:.7f}")
            assert abs(terms["loss"] - weighted) <= TOLERANCE, f"{method}: {terms['loss']} vs the engine's {weighted}"
            assert abs(terms["loss"] - plain) > 10 * TOLERANCE, f"{method}: the weights did not change the loss"
        heaviest = max(pairs("ddpo"), key=lambda r: r["weight"])
        terms = one_step("ddpo", GGUF, [heaviest], str(Path(tmp) / "gguf"))
        print(f"SmolLM2 GGUF: two DDPO steps on a pair of weight {heaviest['weight']:.3f}, last loss {terms['loss']:.5f}")
        assert 0 < terms["loss"] < 10, "the GGUF model did not train to a finite, non-zero loss"
        assert terms["chosen"] != terms["ref_chosen"], "the first step did not move the GGUF model's adapters"
        exported_lanes(tmp)
    print("test_trl_ddpo: ok")


if __name__ == "__main__":
    main()
