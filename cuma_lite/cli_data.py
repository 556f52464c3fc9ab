"""``cuma-lite data ...``: make, check and describe prompt files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cuma_lite.cli_common import console, friendly_errors
from cuma_lite.config import parse_levels
from cuma_lite.data.io import read_jsonl, write_jsonl
from cuma_lite.errors import ConfigError

data_app = typer.Typer(help="Make, check and describe prompt files.", no_args_is_help=True)


@data_app.command("synth")
@friendly_errors
def data_synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file.")],
    task: Annotated[str, typer.Option(help="Generator family (see --list).")] = "arithmetic",
    levels: Annotated[str, typer.Option(help="Difficulty levels, e.g. 1-5 or 1,3.")] = "1-5",
    per_level: Annotated[int, typer.Option(min=1, help="Problems per level.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
) -> None:
    """Generate difficulty-graded, verifiable problems (with gold answers, for evaluation only)."""
    from cuma_lite.data import synthetic

    if task not in synthetic.TASKS:
        raise ConfigError(f"unknown task {task!r}; available: {', '.join(synthetic.list_tasks())}.")
    rows = synthetic.generate(task, parse_levels(levels), per_level, seed)
    n = write_jsonl(out, rows)
    console.print(f"wrote {n} problems to [bold]{out}[/]")
    _print_stats(rows)


@data_app.command("validate")
@friendly_errors
def data_validate(file: Annotated[Path, typer.Argument(help="JSONL file to check.")]) -> None:
    """Check a prompt file; every bad line is reported with its line number."""
    rows = read_jsonl(file)
    console.print(f"[green]ok[/]: {file} has {len(rows)} valid rows")
    _print_stats(rows)


def _print_stats(rows: list[dict[str, Any]]) -> None:
    by_level = Counter(r.get("difficulty") for r in rows)
    table = Table("difficulty", "rows", "with answer", title="rows per difficulty")
    with_answer = Counter(r.get("difficulty") for r in rows if r.get("answer") not in (None, ""))
    for level in sorted(by_level, key=lambda v: (v is None, v)):
        table.add_row("none" if level is None else str(level), str(by_level[level]), str(with_answer[level]))
    console.print(table)
