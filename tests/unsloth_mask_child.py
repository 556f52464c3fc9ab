"""Child process of tests/test_unsloth_loss.py: Unsloth's real GRPO loss on a batch with a masked group.

Run with ``UNSLOTH_ALLOW_CPU=1`` (Unsloth's own CPU-CI switch: the GPU import path on a CPU), which generates
``UnslothGRPOTrainer`` from TRL's source and binds it to ``trl.GRPOTrainer`` for the whole process; hence a child.
For each loss type, beta and kind of advantage on the masked rows (zero: the vote's None reward; non-zero: a
``gold``/``self_certainty``/``entropy`` reward, where the vote is weighted 0), it prints one JSON line comparing
loss and gradients of

- ``masked``: the full batch passed through ``cuma_lite.training.mask.apply_vote_mask`` (what the trainer does),
- ``removed``: the same batch without the masked group's rows,
- ``completion_mask_only``: the full batch with only ``completion_mask`` zeroed and the normaliser recounted
  (cuma-lite before the fix), to show that the comparison can fail.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

G, GROUPS, MASKED = 4, 3, (4, 5, 6, 7)  # group 1 (rows 4-7) is masked
VOCAB, PAD, EOS, BOS = 97, 0, 1, 2


def tiny_llama(tmp: Path) -> Path:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, pad_token_id=PAD, eos_token_id=EOS, bos_token_id=BOS,
        tie_word_embeddings=False,
    )  # fmt: skip
    LlamaForCausalLM(config).float().save_pretrained(tmp)
    vocab = {"<pad>": PAD, "<eos>": EOS, "<bos>": BOS, **{f"t{i}": i for i in range(3, VOCAB)}}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<pad>"))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        padding_side="left",
    ).save_pretrained(tmp)
    return tmp


def batch() -> dict[str, torch.Tensor]:
    """Left-padded prompts, right-padded completions (some end in EOS, some are cut by the budget)."""
    gen = torch.Generator().manual_seed(1)
    P, C, B = 7, 9, GROUPS * G
    out = {
        "prompt_ids": torch.full((B, P), PAD), "prompt_mask": torch.zeros((B, P), dtype=torch.long),
        "completion_ids": torch.full((B, C), PAD), "completion_mask": torch.zeros((B, C), dtype=torch.long),
    }  # fmt: skip
    for k, length in enumerate((4, 7, 5)):
        prompt = torch.randint(3, VOCAB, (length,), generator=gen)
        for j in range(G):
            r = k * G + j
            out["prompt_ids"][r, P - length :], out["prompt_mask"][r, P - length :] = prompt, 1
            n = int(torch.randint(3, C + 1, (1,), generator=gen))
            tokens = torch.randint(3, VOCAB, (n,), generator=gen)
            if n < C and r % 3:
                tokens[-1] = EOS
            out["completion_ids"][r, :n], out["completion_mask"][r, :n] = tokens, 1
    return out


def main() -> None:
    import unsloth  # noqa: F401  (UNSLOTH_ALLOW_CPU=1)
    from unsloth.models.rl import _patch_trl_rl_trainers

    _patch_trl_rl_trainers("grpo_trainer")
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cuma_lite.training.mask import apply_vote_mask, mask_rows

    assert trl.GRPOTrainer.__name__ == "UnslothGRPOTrainer", trl.GRPOTrainer
    tmp = Path(tempfile.mkdtemp())
    model_dir = tiny_llama(tmp / "model")
    args = trl.GRPOConfig(
        output_dir=str(tmp / "out"), use_cpu=True, bf16=False, fp16=False, per_device_train_batch_size=GROUPS * G,
        num_generations=G, max_completion_length=9, beta=0.1, loss_type="dapo", mask_truncated_completions=False,
        epsilon_high=0.2, report_to=[], max_steps=1,
    )  # fmt: skip
    trainer = trl.GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32),
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": ["t3 t4"] * 8}),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.use_vllm = True  # the fast_inference path: what the GPU presets train with
    model = trainer.model
    model.train()
    with torch.no_grad():  # a reference away from the policy, so that the KL term has a gradient everywhere
        gen = torch.Generator().manual_seed(3)
        for p in trainer.ref_model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    base = batch()
    ids = torch.cat([base["prompt_ids"], base["completion_ids"]], 1)
    attention = torch.cat([base["prompt_mask"], base["completion_mask"]], 1)
    with torch.no_grad():
        base["ref_per_token_logps"], *_ = trainer._get_per_token_logps_and_entropies(
            trainer.ref_model, ids, attention, 9, batch_size=GROUPS * G
        )
    base["old_per_token_logps"] = None
    masked_flags = [r in MASKED for r in range(GROUPS * G)]
    keep = torch.tensor([not m for m in masked_flags])

    def loss_and_grads(inputs: dict) -> tuple[float, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        # a wrong argument on purpose: Unsloth reads inputs["num_items_in_batch"] and ignores it
        loss = trainer.compute_loss(model, dict(inputs), num_items_in_batch=torch.tensor(10**6))
        loss.backward()
        return float(loss.detach()), {
            n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
        }

    def difference(a: tuple, b: tuple) -> dict[str, float]:
        return {
            "dloss": abs(a[0] - b[0]),
            "dgrad": max(float((a[1][n] - b[1][n]).abs().max()) for n in b[1]),
            "grad": max(float(g.abs().max()) for g in b[1].values()),
        }

    for advantages in ("zero", "nonzero"):
        adv = torch.randn(GROUPS * G, generator=torch.Generator().manual_seed(2))
        if advantages == "zero":
            adv[list(MASKED)] = 0.0
        full = {**base, "advantages": adv, "num_items_in_batch": base["completion_mask"].sum()}
        removed = {
            k: v[keep] if torch.is_tensor(v) and v.dim() and v.shape[0] == len(keep) else v
            for k, v in full.items()
        }
        removed["num_items_in_batch"] = removed["completion_mask"].sum()
        before_fix = dict(full)
        before_fix["completion_mask"] = mask_rows(full["completion_mask"], masked_flags)
        before_fix["num_items_in_batch"] = before_fix["completion_mask"].sum()
        cases = [(lt, b, 0.0) for lt in ("dapo", "bnpo") for b in (0.0, 0.1)]
        if (
            advantages == "nonzero"
        ):  # with an entropy bonus (train.entropy_coef), which Unsloth computes itself
            cases += [("dapo", 0.1, 0.5), ("bnpo", 0.0, 0.5)]
        for loss_type, beta, entropy in cases:
            trainer.args.loss_type = trainer.loss_type = loss_type
            trainer.beta = beta
            trainer.entropy_coef = entropy
            reference = loss_and_grads(removed)
            row = {"advantages": advantages, "loss_type": loss_type, "beta": beta, "entropy_coef": entropy}
            row["masked"] = difference(loss_and_grads(apply_vote_mask(full, masked_flags)), reference)
            row["completion_mask_only"] = difference(loss_and_grads(before_fix), reference)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
