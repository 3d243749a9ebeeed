#!/usr/bin/env python3
"""DDPO and DORPO on Hugging Face TRL: train on `deviate pairs` output, each pair weighted.

    deviate pairs --method ddpo > ddpo_pairs.jsonl
    python examples/trl_ddpo.py --pairs ddpo_pairs.jsonl --method ddpo --steps 8 --out ddpo-lora \\
        --model www/models/SmolLM2-135M-Instruct.Q4_1.gguf

DDPO (Chung et al. 2025) is DPO with each pair's loss multiplied by its chosen response's
deviation weight w (the `weight` column); DORPO puts w inside ORPO's odds-ratio term and mean(w)
on its likelihood term. The formulas are those of src/engine/losses.rs:

    DDPO:  L = −mean_i w_i · log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])
    DORPO: L = mean(w)·NLL − λ · mean_i log σ(w_i[(m_w − m_l) − (log(1 − e^{m_w}) − log(1 − e^{m_l}))])

where log π sums a completion's token log-probabilities, m is their mean, NLL is the chosen
sequences' cross-entropy over all their tokens, and π_ref is the model with its LoRA adapters off.
`weight` is 1 for DPO and ORPO rows, which then train exactly as TRL's own trainers.

`--model` takes a Hugging Face model folder or a GGUF file (the playground's SmolLM2). A GGUF is
dequantised to float32 by transformers; the model is then marked as not quantised, since its
weights are plain tensors that LoRA trains on like any others.
"""
import argparse
import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer
from trl.experimental.orpo import ORPOConfig, ORPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference


def ddpo_loss(chosen, rejected, ref_chosen, ref_rejected, weight, beta):
    """−mean_i w_i · log σ(β[(c_i − rc_i) − (r_i − rr_i)]) over summed completion log-probs."""
    margin = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -(weight * F.logsigmoid(beta * margin)).mean()


def log1mexp(m):
    """log(1 − e^m) for m < 0, accurate near 0 and far below it."""
    return torch.where(m < -math.log(2), torch.log1p(-torch.exp(m)), torch.log(-torch.expm1(m)))


def dorpo_loss(mean_chosen, mean_rejected, weight, nll, lam):
    """mean(w)·NLL − λ · mean_i log σ(w_i[(m_c − m_r) − (log(1 − e^{m_c}) − log(1 − e^{m_r}))])."""
    odds = (mean_chosen - mean_rejected) - (log1mexp(mean_chosen) - log1mexp(mean_rejected))
    return nll * weight.mean() - lam * F.logsigmoid(weight * odds).mean()


def completion_logps(model, inputs):
    """Each row's summed completion log-probability (TRL's preference batch: chosen rows, then rejected)."""
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False).logits
    token_logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_logps = token_logps.gather(-1, inputs["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
    return (token_logps * inputs["completion_mask"][:, 1:]).sum(dim=1)


class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, passing each row's `weight` (1 when a row has none)."""

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        batch["weight"] = torch.tensor([float(e.get("weight", 1.0)) for e in examples])
        return batch


class DDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with DDPO's loss: each pair's sigmoid term times its `weight`.

    The policy and reference log-probs are computed here (the reference: the LoRA adapters off),
    so the weight can enter before the mean; `last_terms` keeps the last batch's numbers."""

    def __init__(self, *args, processing_class, **kwargs):
        collator = WeightedPreferenceCollator(pad_token_id=processing_class.pad_token_id)
        super().__init__(*args, processing_class=processing_class, data_collator=collator, **kwargs)
        self.last_terms = None

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "weight" not in self._signature_columns:
            self._signature_columns.append("weight")

    def _compute_loss(self, model, inputs, return_outputs):
        weight = inputs["weight"].to(self.accelerator.device)
        chosen, rejected = completion_logps(model, inputs).chunk(2)
        with torch.no_grad(), self.accelerator.unwrap_model(model).disable_adapter():
            ref_chosen, ref_rejected = completion_logps(model, inputs).chunk(2)
        loss = ddpo_loss(chosen, rejected, ref_chosen, ref_rejected, weight, self.beta)
        self.last_terms = {
            "chosen": chosen.tolist(), "rejected": rejected.tolist(), "ref_chosen": ref_chosen.tolist(),
            "ref_rejected": ref_rejected.tolist(), "weight": weight.tolist(), "beta": self.beta, "loss": loss.item(),
        }
        return (loss, {}) if return_outputs else loss


class DORPOTrainer(ORPOTrainer):
    """TRL's ORPOTrainer with DORPO's loss (TRL's ORPO `beta` is the paper's λ); the `weight`
    column rides through ORPO's collator as a list. `last_terms` keeps the last batch's numbers."""

    last_terms = None

    def get_batch_loss_metrics(self, model, batch, train_eval="train"):
        weight = torch.as_tensor(batch["weight"], dtype=torch.float32, device=self.accelerator.device)
        chosen, rejected, _, _, nll = self.concatenated_forward(model, batch)[:5]
        loss = dorpo_loss(chosen.float(), rejected.float(), weight, nll.float(), self.beta)
        self.last_terms = {
            "mean_chosen": chosen.tolist(), "mean_rejected": rejected.tolist(), "weight": weight.tolist(),
            "nll": nll.item(), "lambda": self.beta, "loss": loss.item(),
        }
        prefix = "eval_" if train_eval == "eval" else ""
        return loss, {f"{prefix}nll_loss": nll.detach(), f"{prefix}weight_mean": weight.mean()}


def load_model(path):
    """A causal LM and its tokenizer from a model folder or a GGUF file, in float32, trainable."""
    path = Path(path).resolve()
    if path.suffix == ".gguf":
        # Alone in a folder: transformers would take any tokenizer.json beside it (www/models
        # holds MiniLM's) over the GGUF's own vocabulary.
        folder = Path(tempfile.mkdtemp(prefix="trl-ddpo-gguf-"))
        (folder / path.name).symlink_to(path)
        source = {"pretrained_model_name_or_path": str(folder), "gguf_file": path.name}
    else:
        source = {"pretrained_model_name_or_path": str(path)}
    tokenizer = AutoTokenizer.from_pretrained(**source)
    model = AutoModelForCausalLM.from_pretrained(**source, dtype=torch.float32)
    # A dequantised GGUF is plain float32 tensors; transformers still flags it as quantised and
    # the Trainer would refuse it.
    model.hf_quantizer = None
    model.is_quantized = False
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def trainer_for(method, model, tokenizer, dataset, args):
    """A DDPO or DORPO trainer (LoRA r 8, α 16 on q and v, as the playground) for `dataset`."""
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    common = dict(output_dir=args.out, per_device_train_batch_size=args.pairs_per_step, max_steps=args.steps,
                  learning_rate=args.learning_rate, lr_scheduler_type="constant", logging_steps=1, report_to=[],
                  save_strategy="no", seed=args.seed, use_cpu=not torch.cuda.is_available())
    if method == "ddpo":
        config = DPOConfig(beta=args.beta, **common)
        return DDPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    config = ORPOConfig(beta=args.lam, remove_unused_columns=False, **common)
    return DORPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True, help="JSONL from `deviate pairs` (prompt, chosen, rejected, weight)")
    parser.add_argument("--model", required=True, help="a model folder or a GGUF file")
    parser.add_argument("--method", choices=["ddpo", "dorpo"], default="ddpo")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--pairs-per-step", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1, help="DDPO's β")
    parser.add_argument("--lam", type=float, default=0.25, help="DORPO's λ")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="trl-lora", help="where the LoRA adapters are saved")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model, tokenizer = load_model(args.model)
    dataset = load_dataset("json", data_files=args.pairs, split="train")
    trainer = trainer_for(args.method, model, tokenizer, dataset, args)
    trainer.train()
    trainer.save_model(args.out)
    print(f"trl_ddpo: {args.method} trained {args.steps} step(s); adapters in {args.out}")


if __name__ == "__main__":
    main()
