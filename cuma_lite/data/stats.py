"""``cuma-lite data stats``: what a prompt file holds, before training on it.

Rows per difficulty, the formats of the gold answers (integer, decimal, fraction, LaTeX, text), exact and near
duplicate problems (:mod:`cuma_lite.data.dedup`) and missing optional fields. Pure Python over loaded rows.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from cuma_lite.data.dedup import duplicate_report
from cuma_lite.data.loaders import load_rows

_FORMATS = (
    ("integer", re.compile(r"^[-+]?\d+$")),
    ("decimal", re.compile(r"^[-+]?\d*\.\d+$")),
    ("fraction", re.compile(r"^[-+]?\d+\s*/\s*\d+$")),
    ("latex", re.compile(r"\\")),
)


def answer_format(answer: str | None) -> str:
    """``integer``, ``decimal``, ``fraction``, ``latex``, ``text`` or ``missing``."""
    if answer is None or not str(answer).strip():
        return "missing"
    text = str(answer).strip().strip("$")
    return next((name for name, pattern in _FORMATS if pattern.search(text)), "text")


def describe(path: str | Path, **fields: Any) -> dict[str, Any]:
    """The ``data stats`` report of a file (loaded with :func:`load_rows`; bad rows raise, as everywhere)."""
    rows = load_rows(path, **fields)
    per_level = Counter(r.get("difficulty") for r in rows)
    return {
        "rows": len(rows),
        "per_level": dict(sorted(per_level.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))),
        "answer_formats": dict(Counter(answer_format(r.get("answer")) for r in rows).most_common()),
        "duplicates": duplicate_report(rows),
        "missing": {
            "answer": sum(r.get("answer") in (None, "") for r in rows),
            "difficulty": sum(r.get("difficulty") is None for r in rows),
        },
    }
