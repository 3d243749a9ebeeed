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

As the playground trains: each prompt in the playground's chat template (`deviate_prompt`), the
pairs in the file's order (`deviate pairs` writes them in the order the page and `deviate train`
take them; `--shuffle` for the Trainer's random order), LoRA r 8, α 16 on q and v drawn as peft
draws them, AdamW (ε 1e-8), `max_grad_norm` 1.0 on the global norm, a constant learning rate,
float32 (`--bf16` for bf16 autocast on GPUs).
`--adapters` starts from LoRA adapters saved by the playground or `deviate train --save`
(`deviate_to_peft` converts them; `peft_to_deviate` goes back).
"""
import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import load_dataset
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file
from torch.utils.data import SequentialSampler
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer
from trl.experimental.orpo import ORPOConfig, ORPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference


# The playground's system prompt and chat template (src/model/bpe.rs: DEFAULT_SYSTEM, chat_prompt).
DEFAULT_SYSTEM = "You write a creative writing based on the user-given writing prompt."

# The playground's LoRA target names and the Hugging Face Llama modules they adapt.
TARGETS = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
           "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


def deviate_prompt(prompt, system=DEFAULT_SYSTEM):
    """A writing prompt as the playground feeds it to SmolLM2 (its chat template, the assistant's turn open)."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def gguf_rows(w, heads):
    """Rows of a q or k projection's output in a GGUF's order (llama.cpp permutes each head's
    halves into interleaved pairs; transformers undoes it when it loads a GGUF)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_rows(w, heads):
    """The inverse of `gguf_rows`."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permuted_heads(target, config):
    """How many heads a target's output rows are permuted over between the GGUF and Hugging Face (None: not)."""
    return {"q": config.num_attention_heads, "k": config.num_key_value_heads}.get(target)


def deviate_name(layer, target, factor):
    """The playground's name of a LoRA factor (burn's `blocks.N.attn.q.weight.lora.a`)."""
    module = "mlp" if target in ("gate", "up", "down") else "attn"
    return f"blocks.{layer}.{module}.{target}.weight.lora.{factor}"


def peft_to_deviate(model):
    """The peft model's adapters as the playground stores them: A [in, r] = lora_A.weightᵀ,
    B [r, out] = lora_B.weightᵀ, q's and k's B columns in the GGUF's order."""
    state = get_peft_model_state_dict(model)
    config = model.get_base_model().config
    out = {}
    for layer in range(config.num_hidden_layers):
        for target, module in TARGETS.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            if f"{prefix}.lora_A.weight" not in state:
                continue
            a, b = state[f"{prefix}.lora_A.weight"], state[f"{prefix}.lora_B.weight"]
            heads = permuted_heads(target, config)
            if heads:
                b = gguf_rows(b, heads)
            out[deviate_name(layer, target, "a")] = a.T.contiguous().float()
            out[deviate_name(layer, target, "b")] = b.T.contiguous().float()
    return out


def deviate_to_peft(model, path):
    """Loads adapters saved by the playground or `deviate train --save` into the peft model."""
    tensors = load_file(path)
    config = model.get_base_model().config
    state = {}
    for layer in range(config.num_hidden_layers):
        for target, module in TARGETS.items():
            a, b = tensors.get(deviate_name(layer, target, "a")), tensors.get(deviate_name(layer, target, "b"))
            if a is None:
                continue
            heads = permuted_heads(target, config)
            b = b.T
            if heads:
                b = hf_rows(b, heads)
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            state[f"{prefix}.lora_A.weight"], state[f"{prefix}.lora_B.weight"] = a.T.contiguous(), b.contiguous()
    expected = get_peft_model_state_dict(model)
    if set(state) != set(expected):
        raise SystemExit(f"{path}: its adapters do not match the LoRA set-up ({len(state)} tensors, expected {len(expected)})")
    set_peft_model_state_dict(model, state)


class InOrder:
    """Takes the pairs in the file's order (the playground's schedule) instead of shuffling them."""

    def _get_train_sampler(self, *args, **kwargs):
        return SequentialSampler(self.train_dataset)


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
    """A causal LM and its tokenizer from a model folder, a GGUF file or a Hugging Face model id
    (e.g. HuggingFaceTB/SmolLM2-1.7B-Instruct, for a larger run), in float32, trainable."""
    path = Path(path).resolve() if Path(path).exists() else Path(path)
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
    """A DDPO or DORPO trainer for `dataset` with the playground's set-up: LoRA (r 8, α 16 on q
    and v unless `args` says otherwise), AdamW with transformers' defaults (β 0.9/0.999, ε 1e-8,
    no weight decay), `max_grad_norm` 1.0 on the global norm, a constant learning rate, float32
    (TRL's configs turn bf16 autocast on by default; `args.bf16` asks for it)."""
    targets = [TARGETS[t].split(".")[1] for t in getattr(args, "targets", ["q", "v"])]
    lora = LoraConfig(r=getattr(args, "rank", 8), lora_alpha=getattr(args, "alpha", 16), target_modules=targets,
                      lora_dropout=0.0, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    if getattr(args, "adapters", None):
        deviate_to_peft(model, args.adapters)
    if not getattr(args, "raw_prompt", False):
        system = getattr(args, "system", DEFAULT_SYSTEM)
        dataset = dataset.map(lambda row: {"prompt": deviate_prompt(row["prompt"], system)})
    common = dict(output_dir=args.out, per_device_train_batch_size=args.pairs_per_step, max_steps=args.steps,
                  learning_rate=args.learning_rate, lr_scheduler_type="constant", max_grad_norm=1.0, adam_epsilon=1e-8,
                  weight_decay=0.0, logging_steps=1, report_to=[], save_strategy="no", seed=args.seed,
                  bf16=getattr(args, "bf16", False), use_cpu=not torch.cuda.is_available())
    in_order = not getattr(args, "shuffle", False)
    if method == "ddpo":
        config = DPOConfig(beta=args.beta, **common)
        cls = type("InOrderDDPOTrainer", (InOrder, DDPOTrainer), {}) if in_order else DDPOTrainer
        return cls(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    config = ORPOConfig(beta=args.lam, remove_unused_columns=False, **common)
    cls = type("InOrderDORPOTrainer", (InOrder, DORPOTrainer), {}) if in_order else DORPOTrainer
    return cls(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)


class StepLosses(TrainerCallback):
    """Keeps every step's loss at full precision (the Trainer's log rounds it)."""

    def __init__(self, trainer):
        self.trainer, self.losses = trainer, []

    def on_step_end(self, args, state, control, **kwargs):
        self.losses.append(self.trainer.last_terms["loss"])


def with_config(parser):
    """The arguments, with `--config`'s values as defaults (its keys are the options' names)."""
    only_config = argparse.ArgumentParser(add_help=False)
    only_config.add_argument("--config")
    first, _ = only_config.parse_known_args()
    if first.config:
        path = Path(first.config)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml
            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(values) - known)
        if unknown:
            parser.error(f"{path}: unknown options {unknown}")
        for key in ("pairs", "model", "adapters", "out"):
            if values.get(key) and not Path(values[key]).is_absolute():
                values[key] = str(path.parent / values[key])
        parser.set_defaults(**values)
        for action in parser._actions:
            if action.dest in values:
                action.required = False
    return parser.parse_args()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True, help="JSONL from `deviate pairs` (prompt, chosen, rejected, weight)")
    parser.add_argument("--model", required=True, help="a model folder, a GGUF file or a Hugging Face model id")
    parser.add_argument("--method", choices=["ddpo", "dorpo"], default="ddpo")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--pairs-per-step", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1, help="DDPO's β")
    parser.add_argument("--lam", type=float, default=0.25, help="DORPO's λ")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=8, help="LoRA's r")
    parser.add_argument("--alpha", type=float, default=16, help="LoRA's α")
    parser.add_argument("--targets", type=lambda v: v.split(",") if isinstance(v, str) else v, default=["q", "v"],
                        help="the projections adapted, comma-separated (q, k, v, o, gate, up, down)")
    parser.add_argument("--out", default="trl-lora", help="where the LoRA adapters are saved")
    parser.add_argument("--adapters", help="start from these LoRA adapters (safetensors from the playground or `deviate train --save`)")
    parser.add_argument("--shuffle", action="store_true", help="the Trainer's random order instead of the file's")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast, for larger runs on GPUs (the playground computes in float32)")
    parser.add_argument("--raw-prompt", action="store_true", help="the prompts as they are, without the playground's chat template")
    parser.add_argument("--config", help="a JSON or YAML file of these options (e.g. a lane exported by the playground); "
                                         "paths in it are relative to its folder, and flags given here win")
    args = with_config(parser)
    torch.manual_seed(args.seed)
    model, tokenizer = load_model(args.model)
    dataset = load_dataset("json", data_files=args.pairs, split="train")
    trainer = trainer_for(args.method, model, tokenizer, dataset, args)
    losses = StepLosses(trainer)
    trainer.add_callback(losses)
    trainer.train()
    trainer.save_model(args.out)
    print(f"trl_ddpo: {args.method} trained {args.steps} step(s); adapters in {args.out}")
    print("losses " + " ".join(f"{x:.9g}" for x in losses.losses))


if __name__ == "__main__":
    main()
