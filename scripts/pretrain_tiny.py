"""Supervise the embedded tiny models: chain-of-thought SFT on synthetic arithmetic, saved as package assets.

    python scripts/pretrain_tiny.py --ladder --out cuma_lite/assets --seed 0   # tiny-math-r1 ... tiny-math-r5
    python scripts/pretrain_tiny.py --out cuma_lite/assets --seed 0            # tiny-math, tiny-math-strong

A ~1M-parameter Qwen2 (``cuma_lite.models.tiny``) learns ``format_prompt(problem) + solution + eos`` for the
``arithmetic`` task, levels 1-5 (2-6 operands in 1..49), with the loss on the completion tokens only. One run,
one constant learning rate after a short warm-up; snapshots of it become the shipped bases.

``--ladder``: the yardstick's ladder of bases. Five snapshots ``tiny-math-r1`` (weakest) ... ``tiny-math-r5`` of
one run trained only on ``sft``-split problems (:mod:`cuma_lite.data.splits`), so the ``rl`` prompts, the ``val``
set that chose the snapshot steps and the ``test`` set that judges them are problems no base has seen. Validation
accuracy is logged every ``--eval-every`` steps (the curve goes into every card); each rung's card also has its
accuracy on the test set (300 problems a level).

Without ``--ladder``: the two original bases, ``tiny-math`` (an early snapshot: a *weak but non-trivial*
reasoner) and ``tiny-math-strong`` (a later one), trained on ``generate(arithmetic, 1-5, 4000, seed)`` minus a
held-out set of seed ``--eval-seed``. Those problems overlap the RL prompts of ``cuma-lite repro``; kept as they
were because the existing reproduction is measured on them.

Each asset directory gets the weights (safetensors), config, generation config, tokenizer files, ``card.json``
and ``README.md`` with the command, seeds, steps, wall time and the held-out accuracy per level.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shlex
import sys
import time
from collections.abc import Callable
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
from cuma_lite.rollout.hf import HFGenerator

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

# ---- the ladder ------------------------------------------------------------------------------------------------
LADDER_NAMES = ("tiny-math-r1", "tiny-math-r2", "tiny-math-r3", "tiny-math-r4", "tiny-math-r5")
# Snapshot steps, chosen on the val split (test was not looked at) from `--ladder --no-save --max-steps 1400`
# (seed 0, 1 thread, 1,401 s of SFT): val accuracy (200 problems a level, 72 new tokens) every 25 steps:
#   25-500 0.006-0.056; 525 0.062, 550 0.072, 575 0.064, 600 0.068, 625 0.082, 650 0.102, 675 0.138, 700 0.219,
#   725 0.196, 750 0.276, 775 0.318, 800 0.312, 825 0.355, 850 0.385, 875 0.412, 900 0.462, 925 0.502,
#   950 0.490, 975 0.586, 1000 0.528, 1025 0.564, 1050 0.556, 1075 0.597, 1100 0.570, 1125 0.628, 1150 0.669,
#   1175 0.606, 1200 0.631, 1225 0.681, 1250 0.566, 1275 0.679, 1300 0.680, 1325 0.678, 1350 0.739,
#   1375 0.727, 1400 0.716.
# At a constant lr the curve jumps by up to 0.1 between evaluations, so a rung is the first step whose 3-point
# moving average (the step and its neighbours 25 steps away) reaches its target, 0.20 / 0.30 / 0.40 / 0.50 /
# 0.58: a snapshot from a steady stretch of the curve, not a lucky spike (975, 0.586, sits between 0.490 and
# 0.528). Val at the chosen steps: 0.196, 0.318, 0.412, 0.490, 0.570.
LADDER_STEPS = (725, 775, 875, 950, 1100)
# Level 1 has only 4,802 distinct problems, 2,842 of them in the sft split: the ladder trains on all of them.
SFT_POOL_CAP = {1: 2842}
EVAL_MAX_NEW_TOKENS = 72  # the reproduction's rollout.max_new_tokens, which its held-out evaluation uses too
# Greedy results could depend on the batching (padding) as well as the weights: keep it fixed.
EVAL_BATCH_SIZE = 64


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("cuma_lite/assets"), help="directory for the asset dirs")
    p.add_argument("--seed", type=int, default=0, help="model init, batch order, and the training data seed")
    p.add_argument("--ladder", action="store_true", help="build tiny-math-r1..r5 on the sft split")
    p.add_argument(
        "--eval-seed", type=int, default=1000, help="seed of the held-out set (differs from --seed)"
    )
    p.add_argument("--train-per-level", type=int, default=4000, help="distinct training problems per level")
    p.add_argument("--eval-per-level", type=int, default=100)
    p.add_argument("--weak-steps", type=int, default=WEAK_STEPS)
    p.add_argument("--strong-steps", type=int, default=STRONG_STEPS)
    p.add_argument(
        "--ladder-steps",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=LADDER_STEPS,
        help=f"the rungs' snapshot steps, comma-separated (default {','.join(map(str, LADDER_STEPS))})",
    )
    p.add_argument(
        "--max-steps", type=int, default=0, help="--ladder: train on past the last rung (measuring)"
    )
    p.add_argument("--val-per-level", type=int, default=200, help="--ladder: val-split problems a level")
    p.add_argument("--test-per-level", type=int, default=300, help="--ladder: test-split problems a level")
    p.add_argument("--val-seed", type=int, default=0, help="--ladder: seed of the val set")
    p.add_argument("--test-seed", type=int, default=0, help="--ladder: seed of the test set")
    p.add_argument("--intermediate", type=int, default=INTERMEDIATE, help="MLP width of the Qwen2 blocks")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=30)
    p.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="also evaluate every N steps (default: 25 with --ladder, else 0: only snapshots)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: 1 with --ladder, bit-for-bit reproducible and on a busy 2-core machine "
        "about 3x faster a step than 2; else 2)",
    )
    p.add_argument("--no-save", action="store_true", help="measure only; write nothing")
    args = p.parse_args(argv)
    if args.eval_every is None:
        args.eval_every = 25 if args.ladder else 0
    if args.threads is None:
        args.threads = 1 if args.ladder else 2
    if args.ladder:
        steps = args.ladder_steps
        if len(steps) != len(LADDER_NAMES) or steps != tuple(sorted(set(steps))) or steps[0] < 1:
            p.error(f"--ladder-steps needs {len(LADDER_NAMES)} increasing positive steps, one a rung.")
    elif not 0 < args.weak_steps < args.strong_steps:
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


def greedy(
    model: Any, tokenizer: Any, items: list[dict[str, Any]], *, max_new_tokens: int = 128
) -> dict[str, Any]:
    """Greedy accuracy on ``items`` in batches of ``EVAL_BATCH_SIZE`` (the original bases: 128 new tokens)."""
    generator = HFGenerator(model, tokenizer, batch_size=EVAL_BATCH_SIZE)
    return greedy_accuracy(generator, items, max_new_tokens=max_new_tokens)


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


def save_weights(path: Path, model: Any, tokenizer: Any) -> tuple[Any, Any]:
    """Save weights + tokenizer and reload them with the Auto classes: what a user gets is what is evaluated."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def save_asset(
    path: Path, model: Any, tokenizer: Any, card: dict[str, Any], eval_items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Save weights + tokenizer, reload them with the Auto classes, evaluate the reloaded copy, write the card."""
    reloaded, reloaded_tokenizer = save_weights(path, model, tokenizer)
    result = greedy(reloaded, reloaded_tokenizer, eval_items)
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
    if args.ladder:
        build_ladder(args, command)
    else:
        build_weak_and_strong(args, command)


# ---- the SFT loop ----------------------------------------------------------------------------------------------


def sft(
    args: argparse.Namespace,
    model: Any,
    tokenizer: Any,
    examples: list[tuple[list[int], int]],
    steps: int,
    after_step: Callable[[int, float], None],
) -> float:
    """``steps`` optimizer steps; ``after_step(step, sft_seconds)`` after each (snapshots, evaluations).

    Returns the seconds spent in SFT proper (forward, backward, update), without what ``after_step`` took.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / args.warmup_steps))
    model.train()
    sft_time, window_loss = 0.0, []
    stream = batches(examples, args.batch_size, args.seed)
    for step in range(1, steps + 1):
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
        after_step(step, sft_time)  # evaluation runs in inference mode and draws no random numbers
    logger.info("done: %d steps, %.0f s of SFT", steps, sft_time)
    return sft_time


# ---- the original two bases ------------------------------------------------------------------------------------


def build_weak_and_strong(args: argparse.Namespace, command: str) -> None:
    """``tiny-math`` and ``tiny-math-strong``: a held-out set of seed ``--eval-seed``, excluded from training."""
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
    snapshots = {args.weak_steps: SNAPSHOTS["weak"], args.strong_steps: SNAPSHOTS["strong"]}

    def after_step(step: int, sft_time: float) -> None:
        if step in snapshots:
            name, description = snapshots[step]
            card = {**run, "name": name, "description": description, "steps": step}
            card["sft_wall_time_s"] = round(sft_time, 1)
            if args.no_save:
                result = greedy(model, tokenizer, eval_items)
            else:
                result = save_asset(args.out / name, model, tokenizer, card, eval_items)
            logger.info("step %d  %s held-out accuracy %s", step, name, one_line(result))
        elif args.eval_every and step % args.eval_every == 0:
            result = greedy(model, tokenizer, eval_items)
            logger.info("step %d  held-out accuracy %s", step, one_line(result))

    sft(args, model, tokenizer, examples, args.strong_steps, after_step)


# ---- the ladder ------------------------------------------------------------------------------------------------


def ladder_data(args: argparse.Namespace) -> tuple[list[dict[str, Any]], ...]:
    """SFT items (sft split, ``--train-per-level`` a level, capped at the pool), val and test items."""
    train_items = []
    for level in LEVELS:
        per_level = min(args.train_per_level, SFT_POOL_CAP.get(level, args.train_per_level))
        train_items += generate(TASK, [level], per_level, args.seed, split="sft")
    val_items = generate(TASK, LEVELS, args.val_per_level, args.val_seed, split="val")
    test_items = generate(TASK, LEVELS, args.test_per_level, args.test_seed, split="test")
    return train_items, val_items, test_items


def evaluate(model: Any, tokenizer: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Greedy accuracy as the reproduction measures it (72 new tokens, batches of 64)."""
    return greedy(model, tokenizer, items, max_new_tokens=EVAL_MAX_NEW_TOKENS)


def build_ladder(args: argparse.Namespace, command: str) -> None:
    """``tiny-math-r1``..``r5``: snapshots of one SFT run on the sft split, judged on val (the curve) and test."""
    train_items, val_items, test_items = ladder_data(args)
    tokenizer = build_tokenizer()
    examples = tokenize_items(tokenizer, train_items)
    model = build_model(
        len(tokenizer), intermediate=args.intermediate, seed=args.seed, eos_token_id=tokenizer.eos_token_id
    )
    run = describe_run(args, model, len(train_items), command)
    per_level = {str(lv): sum(it["difficulty"] == lv for it in train_items) for lv in LEVELS}
    run["train_data"] = {**run["train_data"], "split": "sft", "per_level": per_level}
    del run["train_data"]["excludes_eval"]  # the splits are disjoint by construction
    del run["eval_data"]
    for key, items, seed in (
        ("val_data", val_items, args.val_seed),
        ("test_data", test_items, args.test_seed),
    ):
        split = key.removesuffix("_data")
        run[key] = {"task": TASK, "split": split, "per_level": len(items) // len(LEVELS), "seed": seed}
    run["eval"] = {"decoding": "greedy", "max_new_tokens": EVAL_MAX_NEW_TOKENS, "batch_size": EVAL_BATCH_SIZE}
    logger.info(
        "%d sft / %d val / %d test problems; %s parameters",
        len(train_items),
        len(val_items),
        len(test_items),
        f"{run['parameters']:,}",
    )
    rungs = dict(zip(args.ladder_steps, LADDER_NAMES, strict=True))
    steps = max(args.max_steps, args.ladder_steps[-1])
    curve: list[dict[str, Any]] = []
    cards: list[dict[str, Any]] = []
    started = time.perf_counter()

    def after_step(step: int, sft_time: float) -> None:
        if step in rungs and not args.no_save:
            name = rungs[step]
            rung = LADDER_NAMES.index(name) + 1
            path = args.out / name
            # A fresh tokenizer: the training one carries the padding state of the evaluations into its file.
            reloaded, reloaded_tokenizer = save_weights(path, model, build_tokenizer())
            val = evaluate(reloaded, reloaded_tokenizer, val_items)
            test = evaluate(reloaded, reloaded_tokenizer, test_items)
            description = (
                f"Embedded ladder, rung {rung} of {len(LADDER_NAMES)} (r1 weakest): the SFT snapshot at step "
                f"{step} of one run on sft-split problems only."
            )
            card = {**run, "name": name, "description": description, "rung": rung, "steps": step}
            card["sft_wall_time_s"] = round(sft_time, 1)
            card["val_greedy_accuracy"], card["test_greedy_accuracy"] = summary(val), summary(test)
            cards.append(card)
            logger.info("step %d  %s  val %s  test %s", step, name, one_line(val), one_line(test))
        elif step in rungs or (args.eval_every and step % args.eval_every == 0):
            val = evaluate(model, tokenizer, val_items)
        else:
            return
        curve.append({"step": step, **{k: v for k, v in summary(val).items() if k != "n_per_level"}})
        logger.info("step %d  val accuracy %s", step, one_line(val))

    sft_time = sft(args, model, tokenizer, examples, steps, after_step)
    logger.info("ladder: %.0f s of SFT, %.0f s in all", sft_time, time.perf_counter() - started)
    for card in cards:  # every card gets the whole validation curve: it is how the steps were chosen
        card["val_curve"] = curve
        path = args.out / card["name"]
        (path / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        (path / "README.md").write_text(ladder_readme(card))
    if not cards:
        print(json.dumps(curve))


def ladder_readme(card: dict[str, Any]) -> str:
    val, test = card["val_greedy_accuracy"], card["test_greedy_accuracy"]
    rows = "\n".join(
        f"| {lvl} | {val['per_level'][lvl]:.3f} | {test['per_level'][lvl]:.3f} |" for lvl in val["per_level"]
    )
    train = card["train_data"]
    curve = ", ".join(f"{point['step']} {point['overall']:.3f}" for point in card["val_curve"])
    return f"""# {card["name"]}

{card["description"]}

- Architecture: Qwen2ForCausalLM, {card["parameters"]:,} parameters (hidden {card["hidden"]}, MLP \
{card["intermediate"]}, {card["layers"]} layers, tied embeddings), byte-level tokenizer without merges (257 ids, \
`<|endoftext|>` = eos = pad).
- Made by: `{card["command"]}` ({card["threads"]} CPU thread{"s" if card["threads"] > 1 else ""}, torch \
{card["torch"]}, transformers {card["transformers"]}); the same command rebuilds every rung with the same weights.
- Training: chain-of-thought SFT on `{train["task"]}` levels {train["levels"]}, {train["n_items"]:,} problems of \
the **sft split** only (per level {", ".join(f"{k}: {v:,}" for k, v in train["per_level"].items())}; data seed \
{train["seed"]}), loss on the completion only, AdamW lr {card["lr"]} (constant after {card["warmup_steps"]} \
warm-up steps), batch {card["batch_size"]}, **{card["steps"]} steps**, seed {card["seed"]}; \
{card["sft_wall_time_s"]:.0f} s of SFT.
- Prompt: `Q: {{problem}}\\nA: `; completion: `12+7=19. 19-3=16. \\boxed{{16}}`.

## Greedy accuracy

Greedy decoding, {card["eval"]["max_new_tokens"]} new tokens, batches of {card["eval"]["batch_size"]}. \
val: `generate("{train["task"]}", 1-5, {card["val_data"]["per_level"]}, seed={card["val_data"]["seed"]}, \
split="val")`; test: `generate("{train["task"]}", 1-5, {card["test_data"]["per_level"]}, \
seed={card["test_data"]["seed"]}, split="test")`. The snapshot steps were chosen on val; test was not looked at.

| level | val | test |
|---|---|---|
{rows}
| **all** | **{val["overall"]:.3f}** | **{test["overall"]:.3f}** |

Answer parse rate: val {val["parse_rate"]:.3f}, test {test["parse_rate"]:.3f}.

Validation curve of the run (step, overall accuracy): {curve}.
"""


if __name__ == "__main__":
    main()
