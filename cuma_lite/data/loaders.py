"""Load prompt rows from any supported source into one normalised shape.

Sources: JSON Lines (``.jsonl``/``.json``), CSV (``.csv``), Parquet (``.parquet``), a Hugging Face ``datasets``
directory saved with ``save_to_disk``, or a hub dataset name (``owner/name``, only when the hub is reachable).
Whatever the source, :func:`load_rows` returns dicts of the shape the rest of cuma-lite reads::

    {"id": str, "problem": str, "answer"?: str, "difficulty"?: int | float, ...other columns kept}

- ``--problem-field/--answer-field/--difficulty-field`` name the source columns; they are renamed to the
  canonical keys. With the default difficulty field, a row that has no ``difficulty`` but a MATH-style
  ``level`` uses that instead.
- Difficulties may be numbers or strings: ``"Level 3"`` (MATH), ``"3"`` and ``"2.5"`` are parsed; ``"Level ?"``
  is an error, not a silent level.
- Rows without an id get a stable one, ``row-N``, N being the row's 1-based position among the data rows
  (blank lines do not count), so the same file always gives the same ids whatever its format.
- Every problem is reported at once with its line (JSONL, CSV) or row (Parquet, datasets) number: a missing
  field, an empty file, undecodable bytes, a duplicate id, a difficulty outside the allowed levels.

Only the JSONL and CSV readers are pure Python; pyarrow and ``datasets`` are imported when such a source is read.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from cuma_lite.data.io import DataError

FORMATS = ("jsonl", "csv", "parquet", "datasets")
LEVEL_TEXT = re.compile(r"^\s*(?:level\s*)?([-+]?\d+(?:\.\d+)?)\s*$", re.IGNORECASE)

Record = tuple[int, Any]  # (line or row number, raw record)


def parse_difficulty(value: Any) -> int | float | None:
    """``3``, ``2.5``, ``"3"``, ``"Level 3"`` -> a number; None/blank/NaN -> None; anything else -> ValueError."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a difficulty")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        if not value.strip():
            return None
        m = LEVEL_TEXT.match(value)
        if m is None:
            raise ValueError(f"{value!r} is not a difficulty (expected a number or a string like 'Level 3')")
        number = float(m.group(1))
        return int(number) if number.is_integer() else number
    raise ValueError(f"{value!r} ({type(value).__name__}) is not a difficulty")


def source_format(path: str | Path) -> str:
    """Which reader a path needs: ``jsonl``, ``csv``, ``parquet`` or ``datasets`` (a directory or a hub name)."""
    p = Path(path)
    if p.is_dir():
        return "datasets"
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if not p.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", str(path)):
        return "datasets"  # owner/name on the hub
    raise DataError(
        str(path),
        [
            (
                0,
                f"unknown file type {suffix or '(none)'!r}; use .jsonl, .csv, .parquet or a datasets directory",
            )
        ],
    )


def load_rows(
    path: str | Path,
    *,
    problem_field: str = "problem",
    answer_field: str = "answer",
    difficulty_field: str = "difficulty",
    id_field: str = "id",
    levels: Collection[int | float] | None = None,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """Read ``path`` (any supported format) into normalised, validated rows; raise :class:`DataError` listing every
    bad line or row. ``levels``, when given, is the set of allowed difficulties; ``split`` picks a ``datasets``
    split (default: the only one, else ``test``, else ``train``)."""
    fmt = source_format(path)
    if fmt != "datasets" or Path(path).exists():
        _check_exists(Path(path))
    records = {
        "jsonl": _jsonl_records,
        "csv": _csv_records,
        "parquet": _parquet_records,
        "datasets": lambda p: _datasets_records(p, split),
    }[fmt](Path(path) if fmt != "datasets" else path)
    where = "line" if fmt in ("jsonl", "csv") else "row"
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    fields = (problem_field, answer_field, difficulty_field, id_field)
    for index, (number, raw) in enumerate(records, start=1):
        if isinstance(raw, str):  # a reader's own complaint about this line
            problems.append((number, raw))
            continue
        row, errors = normalise_row(raw, index, fields, levels)
        if row is not None:
            key = row["id"]
            if key in seen:
                errors.append(f"duplicate id {key!r} (first seen on {where} {seen[key]})")
            else:
                seen[key] = number
        problems.extend((number, f"{where} {number}: {msg}" if where == "row" else msg) for msg in errors)
        if not errors and row is not None:
            rows.append(row)
    if problems:
        raise DataError(str(path), [(n if where == "line" else 0, msg) for n, msg in problems])
    if not rows:
        raise DataError(
            str(path), [(0, f"is empty; it needs at least one row with a {problem_field!r} field")]
        )
    return rows


def normalise_row(
    raw: Any,
    index: int,
    fields: tuple[str, str, str, str] = ("problem", "answer", "difficulty", "id"),
    levels: Collection[int | float] | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """One raw record -> (the canonical row, or None, and the list of what is wrong with it)."""
    problem_field, answer_field, difficulty_field, id_field = fields
    if not isinstance(raw, dict):
        return None, [f"expected an object with named fields, got {type(raw).__name__}"]
    row = {k: v for k, v in raw.items() if k not in fields}
    errors: list[str] = []
    problem = raw.get(problem_field)
    if problem is None or problem == "":
        present = ", ".join(map(str, raw)) or "none"
        errors.append(
            f"missing field {problem_field!r} (fields present: {present}); map it with --problem-field"
        )
    elif not isinstance(problem, str) or not problem.strip():
        errors.append(f"field {problem_field!r} must be a non-empty string")
    else:
        row["problem"] = problem
    answer = raw.get(answer_field)
    if answer is not None and not (isinstance(answer, float) and math.isnan(answer)) and answer != "":
        if isinstance(answer, (str, int, float)) and not isinstance(answer, bool):
            row["answer"] = str(answer)
        else:
            errors.append(f"field {answer_field!r} must be a string or a number, got {type(answer).__name__}")
    source = difficulty_field
    if difficulty_field == "difficulty" and raw.get("difficulty") is None and raw.get("level") is not None:
        source = "level"  # MATH's own column
        row.pop("level", None)
    try:
        difficulty = parse_difficulty(raw.get(source))
    except ValueError:
        errors.append(
            f"field {source!r} must be a number (a level like 3, or 'Level 3'), got {raw.get(source)!r}"
        )
    else:
        if difficulty is not None:
            if levels is not None and difficulty not in levels:
                allowed = ", ".join(str(v) for v in sorted(levels))
                errors.append(f"difficulty {difficulty} is not one of the configured levels ({allowed})")
            row["difficulty"] = difficulty
    key = raw.get(id_field)
    row["id"] = f"row-{index}" if key is None or key == "" else str(key)
    first = [k for k in ("id", "problem", "answer", "difficulty") if k in row]
    return {**{k: row[k] for k in first}, **row}, errors


# ---- readers: each yields (line or row number, record) and a string in place of a record it cannot read -------


def _check_exists(p: Path) -> None:
    if not p.exists():
        raise DataError(
            str(p), [(0, "file not found; check the path (create one with `cuma-lite data synth`)")]
        )


def _decode(p: Path) -> str:
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(str(p), [(line, "not valid UTF-8 text; save the file as UTF-8")]) from None


def _jsonl_records(p: Path) -> Iterator[Record]:
    for lineno, line in enumerate(_decode(p).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            yield lineno, f"not valid JSON ({e.msg} at column {e.colno})"


def _csv_records(p: Path) -> Iterator[Record]:
    text = _decode(p)
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
    start = 2  # the line after the header
    try:
        for record in reader:
            if None in record:
                yield start, f"more values than the header has columns ({len(reader.fieldnames or [])})"
            elif any(v is not None and v.strip() for v in record.values()):
                yield start, {k: v for k, v in record.items() if v is not None}
            start = reader.line_num + 1
    except csv.Error as e:
        yield reader.line_num, f"not valid CSV ({e})"


def _parquet_records(p: Path) -> Iterator[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(str(p), [(0, "reading Parquet needs pyarrow: pip install pyarrow")]) from None
    try:
        table = pq.read_table(p)
    except Exception as e:  # pyarrow raises its own ArrowInvalid/OSError zoo for a bad file
        raise DataError(
            str(p), [(0, f"not a readable Parquet file ({str(e).splitlines()[0][:160]})")]
        ) from None
    yield from enumerate(table.to_pylist(), start=1)


def _datasets_records(spec: str | Path, split: str | None) -> Iterator[Record]:
    try:
        import datasets
    except ImportError:
        raise DataError(str(spec), [(0, "reading a datasets source needs `pip install datasets`")]) from None
    try:
        if Path(spec).is_dir():
            loaded = datasets.load_from_disk(str(spec))
        else:
            loaded = datasets.load_dataset(str(spec))
    except Exception as e:  # offline hub, not a dataset directory, ...
        raise DataError(
            str(spec),
            [
                (
                    0,
                    f"cannot load it with `datasets` ({str(e).splitlines()[0][:160]}); give a saved dataset "
                    "directory, a file, or a hub name while online",
                )
            ],
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        chosen = split or (names[0] if len(names) == 1 else "test" if "test" in names else "train")
        if chosen not in loaded:
            raise DataError(str(spec), [(0, f"no split {chosen!r}; it has {', '.join(names)}")])
        loaded = loaded[chosen]
    elif split is not None:
        raise DataError(str(spec), [(0, f"is a single dataset without splits; drop the split {split!r}")])
    yield from enumerate(iter(loaded), start=1)
