"""``cuma-lite data ...``: make, check, describe, grade and generate prompt files.

Each command parses its options and calls one library function (``cuma_lite.data.*``); nothing heavy is imported
until a command that needs a model runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cuma_lite.cli.common import console, friendly_errors
from cuma_lite.config import parse_levels
from cuma_lite.data.io import write_jsonl
from cuma_lite.errors import ConfigError

data_app = typer.Typer(help="Make, check, describe, grade and generate prompt files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


ProblemField = Annotated[str, typer.Option("--problem-field", help="Column holding the problem.")]
AnswerField = Annotated[str, typer.Option("--answer-field", help="Column holding the gold answer.")]
DifficultyField = Annotated[
    str, typer.Option("--difficulty-field", help="Column holding the difficulty ('Level 3' is parsed).")
]
Model = Annotated[
    str, typer.Option("--model", "-m", help="Hub id, model dir, run dir or embedded:NAME (as in `eval`).")
]


def _fields(problem: str, answer: str, difficulty: str) -> dict[str, str]:
    return {"problem_field": problem, "answer_field": answer, "difficulty_field": difficulty}


@data_app.command("synth")
@friendly_errors
def data_synth(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output JSONL file.")] = None,
    task: Annotated[
        str, typer.Option(help="Problem family (`--task list` or --list shows them).")
    ] = "arithmetic",
    levels: Annotated[str, typer.Option(help="Difficulty levels, e.g. 1-5 or 1,3.")] = "1-5",
    per_level: Annotated[int, typer.Option(min=1, help="Problems per level.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
    split: Annotated[
        str | None, typer.Option(help="Only problems of one disjoint split: sft, rl, val or test.")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the families and exit.")] = False,
) -> None:
    """Generate difficulty-graded, verifiable problems (with gold answers, for evaluation only)."""
    from cuma_lite.data import families

    if list_ or task == "list":
        table = Table("task", "levels", "difficulty knob", title="problem families")
        for name, description, lvls in families.list_families():
            table.add_row(name, f"{min(lvls)}-{max(lvls)}", description)
        console.print(table)
        return
    if task not in families.family_names():
        raise ConfigError(f"unknown task {task!r}; available: {', '.join(families.family_names())}.")
    if out is None:
        raise ConfigError("--out is required to write problems (or use --list to see the families).")
    try:
        rows = families.generate_family(task, parse_levels(levels), per_level, seed, split=split)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    n = write_jsonl(out, rows)
    console.print(f"wrote {n} problems to [bold]{out}[/]")
    _print_levels(rows)


@data_app.command("validate")
@friendly_errors
def data_validate(
    file: Annotated[str, typer.Argument(help="JSONL, CSV, Parquet file or datasets directory.")],
    problem_field: ProblemField = "problem",
    answer_field: AnswerField = "answer",
    difficulty_field: DifficultyField = "difficulty",
    levels: Annotated[str | None, typer.Option(help="Allowed difficulty levels, e.g. 1-5.")] = None,
) -> None:
    """Check a prompt file; every bad line is reported with its line number."""
    from cuma_lite.data.loaders import load_rows

    allowed = parse_levels(levels) if levels else None
    rows = load_rows(file, **_fields(problem_field, answer_field, difficulty_field), levels=allowed)
    console.print(f"[green]ok[/]: {file} has {len(rows)} valid rows")
    _print_levels(rows)


@data_app.command("stats")
@friendly_errors
def data_stats(
    file: Annotated[str, typer.Argument(help="JSONL, CSV, Parquet file or datasets directory.")],
    problem_field: ProblemField = "problem",
    answer_field: AnswerField = "answer",
    difficulty_field: DifficultyField = "difficulty",
) -> None:
    """Rows per difficulty, answer formats, duplicates and missing fields of a prompt file."""
    from cuma_lite.data.stats import describe

    report = describe(file, **_fields(problem_field, answer_field, difficulty_field))
    console.print(f"{file}: {report['rows']} rows")
    _print_levels_table(report["per_level"])
    formats = Table("answer format", "rows", title="answers")
    for kind, n in report["answer_formats"].items():
        formats.add_row(kind, str(n))
    console.print(formats)
    console.print(
        f"duplicates: {report['duplicates']['exact']} exact, {report['duplicates']['near']} near "
        f"(problem text); missing: {report['missing']['answer']} answer, {report['missing']['difficulty']} "
        "difficulty"
    )


@data_app.command("difficulty")
@friendly_errors
def data_difficulty(
    data: Annotated[
        str, typer.Option("--data", "-d", help="Questions: JSONL, CSV, Parquet or datasets dir.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL (appended to; rerun to resume).")],
    model: Model = "embedded:tiny-math",
    samples: Annotated[int, typer.Option("--samples", "-k", min=2, help="Answers sampled per question.")] = 8,
    edges: Annotated[
        str, typer.Option(help="Increasing majority-share edges; share >= last edge is level 1 (easy).")
    ] = "0.2,0.4,0.6,0.8",
    temperature: Annotated[float, typer.Option(min=0.0)] = 1.0,
    max_new_tokens: Annotated[int | None, typer.Option(help="Default: 128 embedded, 1024 otherwise.")] = None,
    prompt_style: Annotated[str | None, typer.Option(help="plain or chat (default as in `eval`).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Completions per generate call.")] = 64,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows written (fsynced) at a time.")] = 64,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N rows.")] = None,
    seed: int = 0,
    problem_field: ProblemField = "problem",
    answer_field: AnswerField = "answer",
    difficulty_field: DifficultyField = "difficulty",
) -> None:
    """Label-free difficulty: the policy's majority share over K samples, binned into levels (resumable)."""
    from cuma_lite.data.difficulty import estimate_difficulty_file, parse_edges

    summary = estimate_difficulty_file(
        data, out, model=model, samples=samples, edges=parse_edges(edges), prompt_style=_style(prompt_style),
        max_new_tokens=max_new_tokens, temperature=temperature, batch_size=batch_size, seed=seed,
        chunk_size=chunk_size, limit=limit, fields=_fields(problem_field, answer_field, difficulty_field),
    )  # fmt: skip
    console.print(
        f"{summary['rows']} rows in [bold]{out}[/] ({summary['computed']} computed, {summary['skipped']} "
        f"already done); {summary['seconds']} s"
        + (f", {summary['seconds_per_100']} s per 100 questions" if summary["seconds_per_100"] else "")
    )
    _print_levels_table(summary["per_level"])
    agree = summary["agreement"]
    if agree:
        console.print(
            f"agreement with the given difficulty over {agree['n']} rows: Spearman {_num(agree['spearman_level'])} "
            f"(levels), {_num(agree['spearman_share'])} (-majority share)"
        )


@data_app.command("generate")
@friendly_errors
def data_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL (appended to; rerun to resume).")],
    model: Model = "embedded:tiny-math",
    levels: Annotated[str, typer.Option(help="Target levels, e.g. 1-5.")] = "1-5",
    per_level: Annotated[int, typer.Option(min=1, help="Problems to keep per level.")] = 10,
    seeds: Annotated[
        str | None, typer.Option(help="Few-shot pool with a difficulty column (default: packaged MATH-500).")
    ] = None,
    samples: Annotated[int, typer.Option("--samples", "-k", min=2, help="Solutions per candidate.")] = 8,
    edges: Annotated[
        str, typer.Option(help="Majority-share edges (as in `data difficulty`).")
    ] = "0.2,0.4,0.6,0.8",
    shots: Annotated[int, typer.Option(min=1, help="Seed problems shown per request.")] = 3,
    batch: Annotated[int, typer.Option(min=1, help="Candidates per short level per round.")] = 16,
    max_rounds: Annotated[int, typer.Option(min=1)] = 20,
    decontaminate: Annotated[
        str, typer.Option(help="Comma-separated benchmarks or files nothing may duplicate ('' for none).")
    ] = "math500,aime24,amc23",
    near_threshold: Annotated[float, typer.Option(help="Near-duplicate Jaccard threshold (5-grams).")] = 0.85,
    backend: Annotated[str, typer.Option(help="hf (CPU or GPU); vllm comes with the GPU backend.")] = "hf",
    prompt_style: Annotated[str | None, typer.Option(help="plain or chat (default as in `eval`).")] = None,
    generate_tokens: Annotated[int, typer.Option(min=1, help="Tokens per generated problem.")] = 64,
    temperature: Annotated[float, typer.Option(min=0.0)] = 1.0,
    seed: int = 0,
    problem_field: ProblemField = "problem",
    answer_field: AnswerField = "answer",
    difficulty_field: DifficultyField = "difficulty",
) -> None:
    """Write new problems at target difficulty levels; keep those whose measured majority share is in band."""
    from cuma_lite.data.difficulty import parse_edges
    from cuma_lite.data.generate import generate_from_source

    if backend != "hf":
        raise ConfigError(
            f"--backend {backend!r}: only 'hf' is available here (vllm comes with the GPU backend)."
        )
    summary = generate_from_source(
        model, out, levels=parse_levels(levels), per_level=per_level, seeds=seeds,
        eval_sets=[s for s in decontaminate.split(",") if s.strip()], prompt_style=_style(prompt_style),
        fields=_fields(problem_field, answer_field, difficulty_field), samples=samples, edges=parse_edges(edges),
        shots=shots, batch=batch, max_rounds=max_rounds, threshold=near_threshold,
        generate_tokens=generate_tokens, temperature=temperature, seed=seed,
    )  # fmt: skip
    console.print(
        f"[bold]{out}[/]: kept {summary['kept_per_level']} after {summary['rounds']} round(s); "
        f"{summary['candidates']} candidates: {summary['unparsed']} unparsed, {summary['duplicates']} duplicates, "
        f"{summary['off_band']} off their level's band"
    )
    if summary["short"]:
        console.print(
            f"[yellow]short of the target[/] at levels {summary['short']}: rerun with more --max-rounds"
        )


def _style(style: str | None) -> Any:
    if style not in (None, "plain", "chat"):
        raise ConfigError(f"--prompt-style {style!r}: use plain or chat.")
    return style


def _num(value: float | None) -> str:
    return "n/a (constant)" if value is None else f"{value:.3f}"


def _print_levels(rows: list[dict[str, Any]]) -> None:
    by_level = Counter(r.get("difficulty") for r in rows)
    table = Table("difficulty", "rows", "with answer", title="rows per difficulty")
    with_answer = Counter(r.get("difficulty") for r in rows if r.get("answer") not in (None, ""))
    for level in sorted(by_level, key=lambda v: (v is None, v)):
        table.add_row("none" if level is None else str(level), str(by_level[level]), str(with_answer[level]))
    console.print(table)


def _print_levels_table(per_level: dict[Any, int]) -> None:
    table = Table("difficulty", "rows", title="rows per difficulty")
    for level, n in per_level.items():
        table.add_row("none" if level is None else str(level), str(n))
    console.print(table)
