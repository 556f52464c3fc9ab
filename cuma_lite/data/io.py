"""Reading, validating and writing prompt files (JSON Lines).

One problem a line: ``{"problem": str, "id"?: str|int, "answer"?: str|number, "difficulty"?: int|float, ...}``.
``problem`` is required; ``difficulty`` feeds the curriculum; ``answer`` (gold) is used for evaluation and
diagnostics only -- label-free training never reads it into a reward. Other fields are kept as they are.

Every bad line is reported with its line number and what is wrong (:class:`DataError`), and files are written
to a temporary name and renamed, so an interrupted write never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cuma_lite.errors import UserError

MAX_REPORTED = 20


@dataclass
class DataError(UserError):
    """A data file that cannot be used; ``problems`` lists ``(line_number, message)`` pairs (0 = whole file)."""

    path: str
    problems: list[tuple[int, str]] = field(default_factory=list)

    def __str__(self) -> str:
        shown = [
            f"{self.path}:{n}: {msg}" if n else f"{self.path}: {msg}"
            for n, msg in self.problems[:MAX_REPORTED]
        ]
        more = len(self.problems) - MAX_REPORTED
        if more > 0:
            shown.append(f"... and {more} more problem(s)")
        return "\n".join(shown)


def _check_row(row: Any, seen_ids: dict[str, int], lineno: int) -> list[str]:
    if not isinstance(row, dict):
        return [f"expected a JSON object, got {type(row).__name__}"]
    errors = []
    problem = row.get("problem")
    if problem is None:
        errors.append(f"missing field 'problem' (fields present: {', '.join(row) or 'none'})")
    elif not isinstance(problem, str) or not problem.strip():
        errors.append("field 'problem' must be a non-empty string")
    if "answer" in row and not isinstance(row["answer"], (str, int, float)):
        errors.append(f"field 'answer' must be a string or a number, got {type(row['answer']).__name__}")
    difficulty = row.get("difficulty")
    if difficulty is not None and (isinstance(difficulty, bool) or not isinstance(difficulty, (int, float))):
        errors.append(f"field 'difficulty' must be a number (a level like 3, or a float), got {difficulty!r}")
    if "id" in row:
        key = str(row["id"])
        if key in seen_ids:
            errors.append(f"duplicate id {key!r} (first seen on line {seen_ids[key]})")
        else:
            seen_ids[key] = lineno
    return errors


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a prompt file; raise :class:`DataError` listing every bad line.

    Rows without an ``id`` get their 1-based line number as id; ``answer`` is normalised to a string.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(
            str(p), [(0, "file not found; check the path (create one with `cuma-lite data synth`)")]
        )
    if p.is_dir():
        raise DataError(str(p), [(0, "is a directory; give a .jsonl file")])
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = p.read_bytes()[: e.start].count(b"\n") + 1
        raise DataError(str(p), [(line, "not valid UTF-8 text; save the file as UTF-8")]) from None
    except OSError as e:
        raise DataError(str(p), [(0, f"cannot be read ({e.strerror})")]) from None

    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    seen_ids: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append((lineno, f"not valid JSON ({e.msg} at column {e.colno})"))
            continue
        errors = _check_row(row, seen_ids, lineno)
        problems.extend((lineno, msg) for msg in errors)
        if not errors:
            row.setdefault("id", lineno)
            if "answer" in row:
                row["answer"] = str(row["answer"])
            rows.append(row)
    if problems:
        raise DataError(str(p), problems)
    if not rows:
        raise DataError(str(p), [(0, 'is empty; it needs one JSON object a line, e.g. {"problem": "..."}')])
    return rows


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """Open a temporary file next to ``path`` and rename it over ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically; returns the number written."""
    n = 0
    with atomic_writer(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
