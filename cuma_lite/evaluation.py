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
from collections.abc import Callable, Sequence
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
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions (special tokens stripped) for ``prompts``, in their order.

    ``on_batch(n)`` is called after each batch with its number of prompts (for a progress bar)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding per batch
    groups = _generate(
        model,
        tokenizer,
        prompts,
        order,
        batch_size,
        dict(do_sample=False, max_new_tokens=max_new_tokens),
        add_special_tokens=add_special_tokens,
        on_batch=on_batch,
    )
    return [g[0] for g in groups]


def _generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    order: Sequence[int],
    per_batch: int,
    generation: dict[str, Any],
    *,
    add_special_tokens: bool,
    on_batch: Callable[[int], None] | None,
) -> list[list[str]]:
    """Completions of ``prompts`` (``num_return_sequences`` each), batched in ``order``, returned in prompt order.

    The model is put in eval mode for the call and given back in the mode it was in."""
    import torch
    from transformers import GenerationConfig

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    gen_config = GenerationConfig(**generation, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_id)
    k = gen_config.num_return_sequences or 1
    results: list[list[str]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), per_batch):
                idx = order[start : start + per_batch]
                enc = tokenizer(
                    [prompts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    padding_side="left",
                    add_special_tokens=add_special_tokens,
                ).to(model.device)
                out = model.generate(**enc, generation_config=gen_config)  # [b * k, prompt_len + new]
                texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                for j, i in enumerate(idx):
                    results[i] = texts[j * k : (j + 1) * k]
                if on_batch is not None:
                    on_batch(len(idx))
    finally:
        model.train(was_training)
    return results


def greedy_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict[str, Any]],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    prompt_style: PromptStyle = "plain",
    on_batch: Callable[[int], None] | None = None,
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
        on_batch=on_batch,
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


def sample_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    k: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    add_special_tokens: bool = True,
    seed: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """``k`` sampled completions per prompt (special tokens stripped), in the prompts' order; seeded."""
    import torch

    torch.manual_seed(seed)
    generation = dict(
        do_sample=True,
        temperature=temperature,
        top_p=top_p,
        top_k=0,
        num_return_sequences=k,
        max_new_tokens=max_new_tokens,
    )
    return _generate(
        model,
        tokenizer,
        prompts,
        range(len(prompts)),
        max(1, batch_size // k),
        generation,
        add_special_tokens=add_special_tokens,
        on_batch=on_batch,
    )


def sampled_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict[str, Any]],
    *,
    k: int,
    min_share: float = 0.5,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    prompt_style: PromptStyle = "plain",
    seed: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """maj@k, pass@k, mean majority share and mask rate (at ``min_share``) over ``k`` samples per item.

    maj@k: the group's majority answer (TTRL's plurality, ties to the first) is right; pass@k: any sample is
    right; share and mask are those the label-free reward would see. Overall and per level, like
    :func:`greedy_accuracy`.
    """
    from cuma_lite.voting import majority_vote

    prompts = [_prompt_text(tokenizer, item["problem"], prompt_style) for item in items]
    groups = sample_completions(
        model,
        tokenizer,
        prompts,
        k=k,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        add_special_tokens=prompt_style == "plain",
        seed=seed,
        on_batch=on_batch,
    )
    by_level: dict[Any, list[dict[str, float]]] = defaultdict(list)
    for item, completions in zip(items, groups, strict=True):
        answers = [extract_answer(c) for c in completions]
        gold = str(item["answer"])
        right = [a is not None and answers_equivalent(a, gold) for a in answers]
        plurality = majority_vote(answers, min_share=0.0)
        strict = majority_vote(answers, min_share=min_share)
        by_level[item.get("difficulty")].append(
            {
                "maj": float(plurality.label is not None and answers_equivalent(plurality.label, gold)),
                "pass": float(any(right)),
                "mean": sum(right) / k,
                "share": plurality.share,
                "masked": float(strict.masked),
            }
        )

    def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
        n = len(rows)
        return {
            f"maj@{k}": sum(r["maj"] for r in rows) / n,
            f"pass@{k}": sum(r["pass"] for r in rows) / n,
            f"mean@{k}": sum(r["mean"] for r in rows) / n,
            "majority_share": sum(r["share"] for r in rows) / n,
            "mask_rate": sum(r["masked"] for r in rows) / n,
            "n": n,
        }

    every = [r for rows in by_level.values() for r in rows]
    return {
        **summarise(every),
        "per_level": {
            level: summarise(rows)
            for level, rows in sorted(by_level.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        },
    }


def evaluate_source(
    model_spec: str,
    data: str,
    *,
    adapter: str | None = None,
    samples: int = 1,
    limit: int | None = None,
    min_share: float = 0.5,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int | None = None,
    prompt_style: PromptStyle | None = None,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """``cuma-lite eval``: greedy accuracy and, with ``samples > 1``, maj@k / pass@k / share / mask rate.

    Prompt style and completion length default to the run's own (for a run directory), ``plain``/128 for the
    embedded models, and ``chat``/1024 otherwise.
    """
    from pathlib import Path

    from cuma_lite.benchmarks import load_eval_items
    from cuma_lite.voting import check_min_share
    from cuma_lite.weights import load_model, resolve_source

    check_min_share(min_share)
    items = load_eval_items(data, limit=limit)  # bad data fails before the model loads
    source = resolve_source(model_spec, Path(adapter) if adapter else None)
    run_cfg = source.run_config or {}
    embedded = model_spec.startswith("embedded:") or "cuma_lite/assets" in source.base
    style = prompt_style or run_cfg.get("model", {}).get("prompt_style") or ("plain" if embedded else "chat")
    max_new = (
        max_new_tokens or run_cfg.get("rollout", {}).get("max_new_tokens") or (128 if embedded else 1024)
    )
    model, tokenizer = load_model(source)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )
    with progress:
        task = progress.add_task("greedy", total=len(items))
        greedy = greedy_accuracy(
            model,
            tokenizer,
            items,
            batch_size=batch_size,
            max_new_tokens=max_new,
            prompt_style=style,
            on_batch=lambda n: progress.advance(task, n),
        )
        result: dict[str, Any] = {
            "model": model_spec,
            "adapter": str(source.adapter) if source.adapter else None,
            "data": data,
            "prompt_style": style,
            "max_new_tokens": max_new,
            "greedy": greedy,
        }
        if samples > 1:
            task = progress.add_task(f"{samples} samples", total=len(items))
            sampled = sampled_accuracy(
                model,
                tokenizer,
                items,
                k=samples,
                min_share=min_share,
                temperature=temperature,
                top_p=top_p,
                batch_size=batch_size,
                max_new_tokens=max_new,
                prompt_style=style,
                seed=seed,
                on_batch=lambda n: progress.advance(task, n),
            )
            result["sampled"] = {
                "k": samples,
                "temperature": temperature,
                "top_p": top_p,
                "min_share": min_share,
            }
            result["sampled"].update(sampled)
    return result
