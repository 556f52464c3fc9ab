"""Benchmarks shipped with the package (MATH-500, AIME 2024, AMC), by name; see ``PROVENANCE.md`` here.

``load_eval_items("math500")`` gives rows with ``problem``, gold ``answer`` and ``difficulty`` (MATH's ``level``);
any other argument is read as a JSONL file. Gold answers are for evaluation only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from cuma_lite.data.io import read_jsonl
from cuma_lite.errors import UserError

BENCHMARKS = ("math500", "aime24", "amc23")


def benchmark_path(name: str) -> Path:
    return Path(str(resources.files("cuma_lite.benchmarks") / f"{name}.jsonl"))


def load_eval_items(spec: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """A benchmark by name, or a JSONL file with gold answers; ``difficulty`` filled from ``level`` if absent."""
    if spec in BENCHMARKS:
        path = benchmark_path(spec)
    elif Path(spec).suffix in (".jsonl", ".json") or Path(spec).exists():
        path = Path(spec)
    else:
        raise UserError(f"unknown benchmark {spec!r}; use one of {', '.join(BENCHMARKS)} or a .jsonl file.")
    rows = read_jsonl(path)
    missing = [r["id"] for r in rows if r.get("answer") in (None, "")]
    if missing:
        raise UserError(
            f"{path}: {len(missing)} row(s) have no gold 'answer' (e.g. id={missing[0]}); eval needs one."
        )
    for r in rows:
        if r.get("difficulty") is None and isinstance(r.get("level"), int):
            r["difficulty"] = r["level"]
    return rows[:limit] if limit else rows
