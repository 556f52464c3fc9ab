"""Accuracy against gold answers: the before/after number of a label-free run, and ``cuma-lite eval``.

The only place gold answers are compared with a model's answers (besides the training diagnostics). Completions
come from any :class:`~cuma_lite.rollout.contract.Generator`; each final answer is extracted and graded against
the item's ``answer``. Greedy decoding makes the result a deterministic property of the weights.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cuma_lite.answers import extract_answer, grade
from cuma_lite.prompts import PromptStyle, format_prompt
from cuma_lite.rollout.contract import Generator, OnBatch, SamplingSpec, texts
from cuma_lite.voting import majority_vote

if TYPE_CHECKING:
    from rich.table import Table


def greedy_accuracy(
    generator: Generator,
    items: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int = 128,
    prompt_style: PromptStyle = "plain",
    on_batch: OnBatch | None = None,
) -> dict[str, Any]:
    """Greedy accuracy on ``items`` (each with ``problem`` and gold ``answer``; ``difficulty`` optional).

    Returns ``{"accuracy", "correct", "n", "parse_rate", "per_level": {level: {"accuracy", "correct", "n"}},
    "predictions": [{"id", "difficulty", "answer", "prediction", "correct", "tier", "completion"}]}`` (``tier``:
    which grading tier decided, to audit a surprising grade); items without a ``difficulty`` count as level ``None``.
    """
    _check_items(items)
    prompts = [format_prompt(item["problem"], prompt_style) for item in items]
    groups = generator.generate(prompts, SamplingSpec.greedy_spec(max_new_tokens), on_batch=on_batch)
    predictions = []
    by_level: dict[Any, list[bool]] = defaultdict(list)
    for item, (completion,) in zip(items, texts(groups), strict=True):
        pred = extract_answer(completion)
        verdict = grade(pred, str(item["answer"]))
        correct = verdict.correct
        by_level[item.get("difficulty")].append(correct)
        predictions.append(
            {
                "id": item.get("id"),
                "difficulty": item.get("difficulty"),
                "answer": str(item["answer"]),
                "prediction": pred,
                "correct": correct,
                "tier": verdict.tier,
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
            for level, hits in _by_level_order(by_level)
        },
        "predictions": predictions,
    }


def sampled_accuracy(
    generator: Generator,
    items: Sequence[dict[str, Any]],
    *,
    k: int,
    min_share: float = 0.5,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 128,
    prompt_style: PromptStyle = "plain",
    seed: int = 0,
    on_batch: OnBatch | None = None,
) -> dict[str, Any]:
    """maj@k, pass@k, mean@k, mean majority share and mask rate (at ``min_share``) over ``k`` samples per item.

    maj@k: the group's plurality answer (TTRL's label, ties to the first) is right; pass@k: any sample is right;
    share and mask are those the label-free reward would see. Overall and per level, like :func:`greedy_accuracy`.
    """
    _check_items(items)
    spec = SamplingSpec(n=k, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    prompts = [format_prompt(item["problem"], prompt_style) for item in items]
    groups = texts(generator.generate(prompts, spec, on_batch=on_batch))
    by_level: dict[Any, list[dict[str, float]]] = defaultdict(list)
    for item, completions in zip(items, groups, strict=True):
        answers = [extract_answer(c) for c in completions]
        gold = str(item["answer"])
        right = [grade(a, gold).correct for a in answers]
        plurality = majority_vote(answers, min_share=0.0)
        strict = majority_vote(answers, min_share=min_share)
        by_level[item.get("difficulty")].append(
            {
                "maj": float(grade(plurality.label, gold).correct),
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
    return {**summarise(every), "per_level": {lv: summarise(rows) for lv, rows in _by_level_order(by_level)}}


def _check_items(items: Sequence[dict[str, Any]]) -> None:
    if not items:
        raise ValueError("evaluation needs at least one item.")
    missing = [i for i, item in enumerate(items) if "answer" not in item or "problem" not in item]
    if missing:
        raise ValueError(f"items {missing[:5]} lack 'problem' or a gold 'answer'; evaluation needs both.")


def _by_level_order(by_level: dict[Any, Any]) -> list[tuple[Any, Any]]:
    return sorted(by_level.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))


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

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from cuma_lite.backends.hf import load_inference_model
    from cuma_lite.benchmarks import load_eval_items
    from cuma_lite.models.source import resolve_source
    from cuma_lite.rollout.hf import HFGenerator
    from cuma_lite.voting import check_min_share

    check_min_share(min_share)
    items = load_eval_items(data, limit=limit)  # bad data fails before the model loads
    source = resolve_source(model_spec, Path(adapter) if adapter else None)
    default_style, default_max_new = source.generation_defaults()
    style = prompt_style or default_style
    max_new = max_new_tokens or default_max_new
    model, tokenizer = load_inference_model(source)
    generator = HFGenerator(model, tokenizer, batch_size=batch_size)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )
    with progress:
        task = progress.add_task("greedy", total=len(items))
        greedy = greedy_accuracy(
            generator,
            items,
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
                generator,
                items,
                k=samples,
                min_share=min_share,
                temperature=temperature,
                top_p=top_p,
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
