"""Supervise the embedded tiny models: chain-of-thought SFT on synthetic arithmetic, saved as package assets.

    python scripts/pretrain_tiny.py --out cuma_lite/assets --seed 0

A ~1M-parameter Qwen2 (``cuma_lite.models.tiny``) learns ``format_prompt(problem) + solution + eos`` for the
``arithmetic`` task, levels 1-5 (2-6 operands in 1..49), with the loss on the completion tokens only. One run,
one constant learning rate after a short warm-up; two snapshots of it become the two shipped bases:

- ``tiny-math`` (the default), an early snapshot: a *weak but non-trivial* reasoner, right on most 2-operand
  problems and rarely on 6-operand ones. Label-free RL needs exactly this: a model whose majority vote is often,
  but not always, right;
- ``tiny-math-strong``, a later snapshot of the same run: clearly stronger, for comparison.

The held-out set (``--eval-per-level`` problems a level, its own seed) is generated first and excluded from the
training set. Each asset directory gets the weights (safetensors), config, generation config, tokenizer files,
``card.json`` and ``README.md`` with the command, seeds, steps, wall time and the held-out accuracy per level.
``--eval-every N`` also logs held-out accuracy every N steps: that is how the snapshot steps were chosen.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
import transformers
from rich.console import Console
from rich.logging import RichHandler

# Runnable from a checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.data.synthetic import generate
from cuma_lite.evaluation import format_accuracy_table, greedy_accuracy
from cuma_lite.models.tiny import build_model, build_tokenizer
from cuma_lite.prompts import format_prompt

logger = logging.getLogger("pretrain_tiny")

TASK = "arithmetic"
LEVELS = (1, 2, 3, 4, 5)
# Snapshot steps, chosen by measurement: `--eval-every 50 --strong-steps 1000 --no-save` (seed 0; the curve was
# identical on 1 and 2 threads). Held-out overall accuracy by step: 500 0.14, 550 0.16, 600 0.26, 650 0.25,
# 700 0.36, 750 0.47, 800 0.49, 850 0.51, 900 0.55. 600 is the first step with level 1 >= 0.5 (0.55; level 5 0.07),
# the prototype's weak base; 800 is the first at ~0.5 overall (level 1 0.83, level 5 0.20).
WEAK_STEPS = 600
STRONG_STEPS = 800
INTERMEDIATE = 512


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("cuma_lite/assets"), help="directory for the asset dirs")
    p.add_argument("--seed", type=int, default=0, help="model init, batch order, and the training data seed")
    p.add_argument(
        "--eval-seed", type=int, default=1000, help="seed of the held-out set (differs from --seed)"
    )
    p.add_argument("--train-per-level", type=int, default=4000, help="distinct training problems per level")
    p.add_argument("--eval-per-level", type=int, default=100)
    p.add_argument("--weak-steps", type=int, default=WEAK_STEPS)
    p.add_argument("--strong-steps", type=int, default=STRONG_STEPS)
    p.add_argument("--intermediate", type=int, default=INTERMEDIATE, help="MLP width of the Qwen2 blocks")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=30)
    p.add_argument(
        "--eval-every", type=int, default=0, help="also evaluate every N steps (0: only snapshots)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-save", action="store_true", help="measure only; write nothing")
    args = p.parse_args(argv)
    if not 0 < args.weak_steps < args.strong_steps:
        p.error("need 0 < --weak-steps < --strong-steps.")
    return args


def tokenize_items(tokenizer: Any, items: list[dict[str, Any]]) -> list[tuple[list[int], int]]:
    """``(prompt + completion + eos ids, prompt length)`` per item; the loss starts after the prompt."""
    prompts = tokenizer([format_prompt(it["problem"]) for it in items])["input_ids"]
    completions = tokenizer([it["solution"] for it in items])["input_ids"]
    return [(p + c + [tokenizer.eos_token_id], len(p)) for p, c in zip(prompts, completions, strict=True)]


def collate(examples: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch; labels are -100 on the prompt and the padding."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id)  # [B, T]
    labels = torch.full((len(examples), width), -100)  # [B, T]
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)  # [B, T]
    for row, (ids, n_prompt) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def batches(examples: list[tuple[list[int], int]], batch_size: int, seed: int):
    """An endless stream of batches mixing all levels, reshuffled each epoch with a seeded RNG.

    (Batches of similar length, i.e. about one level each, pad a third less but learned about half as fast.)
    """
    rng = random.Random(seed)
    order = list(range(len(examples)))
    while True:
        rng.shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield [examples[i] for i in order[start : start + batch_size]]


def one_line(result: dict[str, Any]) -> str:
    levels = " ".join(f"L{k} {v['accuracy']:.2f}" for k, v in result["per_level"].items())
    return f"{result['accuracy']:.3f} ({levels}; parsed {result['parse_rate']:.2f})"


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "overall": round(result["accuracy"], 4),
        "parse_rate": round(result["parse_rate"], 4),
        "per_level": {str(k): round(v["accuracy"], 4) for k, v in result["per_level"].items()},
        "n_per_level": {str(k): v["n"] for k, v in result["per_level"].items()},
    }


def save_asset(
    path: Path, model: Any, tokenizer: Any, card: dict[str, Any], eval_items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Save weights + tokenizer, reload them with the Auto classes, evaluate the reloaded copy, write the card."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    reloaded = AutoModelForCausalLM.from_pretrained(path)
    result = greedy_accuracy(reloaded, AutoTokenizer.from_pretrained(path), eval_items)
    card = {**card, "heldout_greedy_accuracy": summary(result)}
    (path / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (path / "README.md").write_text(readme(card))
    Console().print(format_accuracy_table(result, title=f"{card['name']}: held-out greedy accuracy"))
    return result


def readme(card: dict[str, Any]) -> str:
    acc = card["heldout_greedy_accuracy"]
    rows = "\n".join(
        f"| {lvl} | {n} | {acc['per_level'][lvl]:.2f} |" for lvl, n in acc["n_per_level"].items()
    )
    return f"""# {card["name"]}

{card["description"]}

- Architecture: Qwen2ForCausalLM, {card["parameters"]:,} parameters (hidden {card["hidden"]}, MLP {card["intermediate"]}, {card["layers"]} \
layers, tied embeddings), byte-level tokenizer without merges (257 ids, `<|endoftext|>` = eos = pad).
- Made by: `{card["command"]}` ({card["threads"]} CPU threads, torch {card["torch"]}, transformers \
{card["transformers"]}).
- Training: chain-of-thought SFT on `{card["train_data"]["task"]}` levels {card["train_data"]["levels"]}, \
{card["train_data"]["n_items"]:,} problems (data seed {card["train_data"]["seed"]}), loss on the completion only, \
AdamW lr {card["lr"]} (constant after {card["warmup_steps"]} warm-up steps), batch {card["batch_size"]}, \
**{card["steps"]} steps**, seed {card["seed"]}; {card["sft_wall_time_s"]:.0f} s of SFT.
- Prompt: `Q: {{problem}}\\nA: `; completion: `12+7=19. 19-3=16. \\boxed{{16}}`.

## Held-out greedy accuracy

{card["eval_data"]["per_level"]} problems a level (seed {card["eval_data"]["seed"]}, disjoint from training), \
overall **{acc["overall"]:.3f}** (answer parse rate {acc["parse_rate"]:.3f}).

| level | n | accuracy |
|---|---|---|
{rows}
"""


def describe_run(args: argparse.Namespace, model: Any, n_train: int, command: str) -> dict[str, Any]:
    """The part of an asset card that both snapshots share."""
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "hidden": model.config.hidden_size,
        "layers": model.config.num_hidden_layers,
        "intermediate": model.config.intermediate_size,
        "command": command,
        "seed": args.seed,
        "threads": args.threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "train_data": {
            "task": TASK,
            "levels": list(LEVELS),
            "per_level": args.train_per_level,
            "seed": args.seed,
            "n_items": n_train,
            "excludes_eval": True,
        },
        "eval_data": {"task": TASK, "per_level": args.eval_per_level, "seed": args.eval_seed},
        "lr": args.lr,
        "warmup_steps": args.warmup_steps,
        "batch_size": args.batch_size,
    }


SNAPSHOTS = {
    "weak": ("tiny-math", "Default embedded base: a weak but non-trivial reasoner (early SFT snapshot)."),
    "strong": (
        "tiny-math-strong",
        "Stronger embedded base: a later snapshot of the same SFT run as tiny-math.",
    ),
}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(width=120), show_path=False)],
    )
    torch.set_num_threads(args.threads)
    command = "python scripts/pretrain_tiny.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    eval_items = generate(TASK, LEVELS, args.eval_per_level, args.eval_seed)
    held_out = {it["problem"] for it in eval_items}
    train_items = generate(TASK, LEVELS, args.train_per_level, args.seed, exclude=held_out)
    tokenizer = build_tokenizer()
    examples = tokenize_items(tokenizer, train_items)
    model = build_model(
        len(tokenizer), intermediate=args.intermediate, seed=args.seed, eos_token_id=tokenizer.eos_token_id
    )
    run = describe_run(args, model, len(train_items), command)
    logger.info(
        "%d training / %d held-out problems; %s parameters",
        len(train_items),
        len(eval_items),
        f"{run['parameters']:,}",
    )
    train(args, model, tokenizer, examples, eval_items, run)


def train(
    args: argparse.Namespace,
    model: Any,
    tokenizer: Any,
    examples: list[tuple[list[int], int]],
    eval_items: list[dict[str, Any]],
    run: dict[str, Any],
) -> None:
    """The SFT loop; saves (or, with ``--no-save``, only evaluates) the two snapshots on the way."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / args.warmup_steps))
    snapshots = {args.weak_steps: SNAPSHOTS["weak"], args.strong_steps: SNAPSHOTS["strong"]}
    model.train()
    sft_time, window_loss = 0.0, []
    stream = batches(examples, args.batch_size, args.seed)
    for step in range(1, args.strong_steps + 1):
        start = time.perf_counter()
        loss = model(**collate(next(stream), tokenizer.pad_token_id)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        sft_time += time.perf_counter() - start
        window_loss.append(loss.item())
        if step % 25 == 0:
            mean_loss = sum(window_loss) / len(window_loss)
            logger.info("step %d  loss %.4f  (%.0f s of SFT)", step, mean_loss, sft_time)
            window_loss = []
        if step in snapshots:
            name, description = snapshots[step]
            card = {**run, "name": name, "description": description, "steps": step}
            card["sft_wall_time_s"] = round(sft_time, 1)
            if args.no_save:
                result = greedy_accuracy(model, tokenizer, eval_items)
            else:
                result = save_asset(args.out / name, model, tokenizer, card, eval_items)
            logger.info("step %d  %s held-out accuracy %s", step, name, one_line(result))
        elif args.eval_every and step % args.eval_every == 0:
            result = greedy_accuracy(model, tokenizer, eval_items)
            logger.info("step %d  held-out accuracy %s", step, one_line(result))
    logger.info("done: %d steps, %.0f s of SFT", args.strong_steps, sft_time)


if __name__ == "__main__":
    main()
