"""Exact and near-duplicate problems, and decontamination against evaluation sets.

Two problems are **exact duplicates** when their normal forms match: lower case, TeX dollar signs and spacing
commands dropped, all whitespace removed, trailing punctuation stripped (``"Compute 12 + 7."`` and
``"compute 12+7"`` are one problem). They are **near duplicates** when the Jaccard similarity of the sets of
character ``n``-grams of their normal forms reaches ``threshold`` (default 5-grams, 0.85).

Why characters, not words: math problems are short and dense with symbols. Why 0.85: a one-character change in a
normal form of length ``m`` leaves about ``(m-9)/(m+1)`` of the 5-grams shared, so short templated problems that
differ in a number (``Compute 12+7-3.`` vs ``...-4.``: 0.8) stay distinct, while a 60-character-or-longer problem
copied with one number changed -- the usual contamination -- is caught. Lower the threshold to be stricter.

Pure Python; an inverted index over n-grams keeps a query to the documents that share at least one n-gram.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_NGRAM = 5
DEFAULT_THRESHOLD = 0.85
_TEX_NOISE = re.compile(r"\$|\\[,;:! ]|\\(?:left|right)\b")
_SPACE = re.compile(r"\s+")


def normalize_problem(text: str) -> str:
    """The exact-duplicate key of a problem."""
    text = _TEX_NOISE.sub("", text.lower())
    return _SPACE.sub("", text).rstrip(".?!:;")


def ngrams(norm: str, n: int = DEFAULT_NGRAM) -> frozenset[str]:
    """Character n-grams of a normal form (the whole string when it is shorter than ``n``)."""
    if len(norm) <= n:
        return frozenset([norm])
    return frozenset(norm[i : i + n] for i in range(len(norm) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class DuplicateIndex:
    """Problems seen so far, for exact (normal form) and near (n-gram Jaccard) look-ups."""

    threshold: float = DEFAULT_THRESHOLD
    n: int = DEFAULT_NGRAM
    _exact: dict[str, str] = field(default_factory=dict)  # normal form -> key
    _grams: list[frozenset[str]] = field(default_factory=list)
    _keys: list[str] = field(default_factory=list)
    _postings: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold={self.threshold} must be in (0, 1]; 1 keeps exact duplicates only.")
        if self.n < 1:
            raise ValueError(f"n={self.n} must be >= 1.")

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, text: str) -> None:
        norm = normalize_problem(text)
        self._exact.setdefault(norm, key)
        grams = ngrams(norm, self.n)
        doc = len(self._keys)
        self._keys.append(key)
        self._grams.append(grams)
        for g in grams:
            self._postings.setdefault(g, []).append(doc)

    def add_all(self, items: Iterable[tuple[str, str]]) -> DuplicateIndex:
        for key, text in items:
            self.add(key, text)
        return self

    def match(self, text: str) -> tuple[str, str, float] | None:
        """``(kind, key, similarity)`` of the first duplicate of ``text`` (``"exact"`` wins over ``"near"``), or
        None."""
        norm = normalize_problem(text)
        if norm in self._exact:
            return "exact", self._exact[norm], 1.0
        if self.threshold >= 1:
            return None
        grams = ngrams(norm, self.n)
        shared = Counter(doc for g in grams for doc in self._postings.get(g, ()))
        best: tuple[float, int] | None = None
        for doc, common in shared.items():
            sim = common / (len(grams) + len(self._grams[doc]) - common)
            if sim >= self.threshold and (best is None or sim > best[0]):
                best = (sim, doc)
        return None if best is None else ("near", self._keys[best[1]], round(best[0], 4))


def deduplicate(
    rows: Sequence[dict[str, Any]],
    *,
    against: DuplicateIndex | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(kept, dropped)``: rows in order, each dropped when it duplicates an earlier kept row or anything in
    ``against`` (the seed and evaluation sets: decontamination). Dropped rows gain ``duplicate_of`` and
    ``duplicate_kind``. ``against`` is not modified."""
    external = against if against is not None else DuplicateIndex(threshold)
    own = DuplicateIndex(threshold, external.n)
    kept, dropped = [], []
    for row in rows:
        hit = external.match(row["problem"]) or own.match(row["problem"])
        if hit is None:
            own.add(str(row.get("id")), row["problem"])
            kept.append(row)
        else:
            dropped.append({**row, "duplicate_kind": hit[0], "duplicate_of": hit[1], "similarity": hit[2]})
    return kept, dropped


def duplicate_report(rows: Sequence[dict[str, Any]], threshold: float = DEFAULT_THRESHOLD) -> dict[str, int]:
    """How many rows of a file are exact and near duplicates of an earlier row (for ``data stats``)."""
    _, dropped = deduplicate(rows, threshold=threshold)
    kinds = Counter(d["duplicate_kind"] for d in dropped)
    return {"exact": kinds["exact"], "near": kinds["near"]}
