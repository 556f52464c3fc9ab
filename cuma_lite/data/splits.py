"""Disjoint data splits by problem text: what a base is fine-tuned on never reaches RL, validation or test.

Every problem string belongs to exactly one split, decided by a salted sha256 of its text alone: no seed, no
task, no order. So the assignment is stable across runs, machines and Python versions, two generators that draw
the same problem put it in the same split, and a problem drawn with any seed stays in its split.

- ``sft``  (60%): the chain-of-thought fine-tuning of the embedded bases (``scripts/pretrain_tiny.py --ladder``);
- ``rl``   (15%): label-free RL prompts;
- ``val``  (10%): choosing settings (snapshot steps, thresholds, learning rates);
- ``test`` (15%): the held-out set that judges a finished setting.

The shares are sized for the smallest pool, arithmetic level 1 (2 operands in 1..49, 4,802 distinct problems):
it splits into 2,842 sft / 709 rl / 523 val / 728 test problems, enough for 300 test and 150 val problems a level
and a few hundred RL prompts. ``synthetic.generate(..., split=...)`` draws only from one split.

The original bases ``tiny-math`` and ``tiny-math-strong`` predate the splits: they were fine-tuned on most of
level 1 and on the seed-0 draws of every level, so a split set of seed 0 (a filter of those same draws) is
almost all problems they were trained on. Judge them on no split set; the ``tiny-math-r*`` ladder is clean.

>>> [split_of(p) for p in ("Compute 12+7.", "Compute 7+12.", "Compute 2+1.", "Compute 12-7.")]
['sft', 'rl', 'val', 'test']
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["sft", "rl", "val", "test"]

SPLITS: tuple[Split, ...] = ("sft", "rl", "val", "test")
# Percent of all problems in each split, in the order of SPLITS (the hash's buckets 0-59, 60-74, 75-84, 85-99).
SPLIT_PERCENT: dict[Split, int] = {"sft": 60, "rl": 15, "val": 10, "test": 15}
# Versions the assignment: changing it (or the shares) moves problems between splits, so never do it silently.
SALT = "cuma-lite/splits/v1"


def split_bucket(problem: str) -> int:
    """The problem's bucket in 0..99: the first 8 bytes of ``sha256(SALT + ":" + problem)`` modulo 100."""
    digest = hashlib.sha256(f"{SALT}:{problem}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_of(problem: str) -> Split:
    """The split (``sft``, ``rl``, ``val`` or ``test``) that the exact problem text belongs to."""
    bucket, upper = split_bucket(problem), 0
    for name in SPLITS:
        upper += SPLIT_PERCENT[name]
        if bucket < upper:
            return name
    raise AssertionError("SPLIT_PERCENT must sum to 100")  # pragma: no cover


def check_split(split: str) -> Split:
    """``split`` itself if it names a split; otherwise a ValueError that lists the choices."""
    if split not in SPLITS:
        raise ValueError(
            f"unknown split {split!r}; choose one of {', '.join(SPLITS)} (or None for no split)."
        )
    return split  # type: ignore[return-value]


def split_counts(problems: list[str]) -> dict[Split, int]:
    """How many of ``problems`` fall in each split (all four keys, in the order of SPLITS)."""
    counts: dict[Split, int] = dict.fromkeys(SPLITS, 0)
    for problem in problems:
        counts[split_of(problem)] += 1
    return counts
