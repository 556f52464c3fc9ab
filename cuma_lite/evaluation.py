"""Greedy evaluation against gold answers: the before/after number of a label-free run.

This is the only place where gold answers are read. Each problem is prompted (``prompts.format_prompt``), decoded
greedily in left-padded batches until eos, its final answer extracted (``answers.extract_answer``) and compared
with the item's ``answer`` (``answers.answers_equivalent``). It works with any Hugging Face causal LM and its
tokenizer; ``chat`` prompts go through the tokenizer's chat template.

Items are batched in order of prompt length (less padding, and a batch of one level tends to stop together);
results come back in the caller's order. Greedy decoding makes the result a deterministic property of the weights
for a fixed item set and batch size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cuma_lite.answers import answers_equivalent, extract_answer
from cuma_lite.prompts import PromptStyle, format_prompt

if TYPE_CHECKING:
    from rich.table import Table
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _prompt_text(tokenizer: PreTrainedTokenizerBase, problem: str, style: PromptStyle) -> str:
    prompt = format_prompt(problem, style)
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def generate_greedy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    add_special_tokens: bool = True,
) -> list[str]:
    """Greedy completions (special tokens stripped) for ``prompts``, in their order."""
    import torch
    from transformers import GenerationConfig

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    gen_config = GenerationConfig(
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=pad_id,
    )
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    completions: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                enc = tokenizer(
                    [prompts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    padding_side="left",
                    add_special_tokens=add_special_tokens,
                ).to(model.device)
                out = model.generate(**enc, generation_config=gen_config)  # [b, prompt_len + new]
                new_tokens = out[:, enc["input_ids"].shape[1] :]
                for i, text in zip(
                    idx, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True
                ):
                    completions[i] = text
    finally:
        model.train(was_training)
    return completions


def greedy_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict[str, Any]],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    prompt_style: PromptStyle = "plain",
) -> dict[str, Any]:
    """Greedy accuracy of ``model`` on ``items`` (each with ``problem`` and gold ``answer``; ``difficulty`` optional).

    Returns ``{"accuracy", "correct", "n", "parse_rate", "per_level": {level: {"accuracy", "correct", "n"}},
    "predictions": [{"id", "difficulty", "answer", "prediction", "correct", "completion"}]}``; items without a
    ``difficulty`` are counted under level ``None``.
    """
    if not items:
        raise ValueError("greedy_accuracy needs at least one item.")
    missing = [i for i, item in enumerate(items) if "answer" not in item or "problem" not in item]
    if missing:
        raise ValueError(f"items {missing[:5]} lack 'problem' or a gold 'answer'; evaluation needs both.")
    prompts = [_prompt_text(tokenizer, item["problem"], prompt_style) for item in items]
    completions = generate_greedy(
        model,
        tokenizer,
        prompts,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        add_special_tokens=prompt_style == "plain",
    )
    predictions = []
    by_level: dict[Any, list[bool]] = defaultdict(list)
    for item, completion in zip(items, completions, strict=True):
        pred = extract_answer(completion)
        correct = pred is not None and answers_equivalent(pred, str(item["answer"]))
        by_level[item.get("difficulty")].append(correct)
        predictions.append(
            {
                "id": item.get("id"),
                "difficulty": item.get("difficulty"),
                "answer": str(item["answer"]),
                "prediction": pred,
                "correct": correct,
                "completion": completion,
            }
        )
    n_correct = sum(p["correct"] for p in predictions)
    return {
        "accuracy": n_correct / len(items),
        "correct": n_correct,
        "n": len(items),
        "parse_rate": sum(p["prediction"] is not None for p in predictions) / len(items),
        "per_level": {
            level: {"accuracy": sum(hits) / len(hits), "correct": sum(hits), "n": len(hits)}
            for level, hits in sorted(by_level.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        },
        "predictions": predictions,
    }


def format_accuracy_table(
    before: dict[str, Any], after: dict[str, Any] | None = None, *, title: str = "Greedy accuracy"
) -> Table:
    """A rich table of ``greedy_accuracy`` results: one row per level and an ``all`` row; after/delta if given."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("level", justify="right")
    table.add_column("n", justify="right")
    table.add_column("before" if after is not None else "accuracy", justify="right")
    if after is not None:
        table.add_column("after", justify="right")
        table.add_column("delta", justify="right")

    def row(label: str, b: dict[str, Any], a: dict[str, Any] | None) -> list[str]:
        cells = [label, str(b["n"]), f"{b['accuracy']:.3f}"]
        if after is not None:
            if a is None:
                cells += ["-", "-"]
            else:
                delta = a["accuracy"] - b["accuracy"]
                style = "green" if delta > 0 else "red" if delta < 0 else ""
                cells += [
                    f"{a['accuracy']:.3f}",
                    f"[{style}]{delta:+.3f}[/{style}]" if style else f"{delta:+.3f}",
                ]
        return cells

    after_levels = after["per_level"] if after is not None else {}
    for level, stats in before["per_level"].items():
        table.add_row(*row("-" if level is None else str(level), stats, after_levels.get(level)))
    table.add_section()
    table.add_row(*row("all", before, after))
    return table
