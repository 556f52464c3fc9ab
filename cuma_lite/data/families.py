"""Every programmatic problem family, by name: cuma-lite's own (:mod:`cuma_lite.data.synthetic`) and reasoning-gym's.

`reasoning-gym <https://github.com/open-thought/reasoning-gym>`_ ships graded, verifiable generators; where one of
its tasks fits a numeric final answer, it is exposed here as ``rg:<task>`` with an explicit map from our levels
1-5 to its difficulty knobs (term counts, digit counts, value ranges), so the curriculum can use it like any other
family. reasoning-gym is optional: it is imported only when an ``rg:`` family is asked for, and a missing install
says what to do. Its items keep their ``source`` (``reasoning-gym/<task>``) and the ``rg_config`` they were drawn
with; they have no chain-of-thought ``solution`` (they are for RL and evaluation, not for SFT of the tiny model).

Determinism: level L of ``rg:<task>`` with seed s is reasoning-gym's dataset built with the seed derived from
``(task, L, s)``; items are de-duplicated and ``exclude`` is honoured as in :func:`synthetic.generate`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from cuma_lite.data import synthetic
from cuma_lite.data.splits import SPLIT_PERCENT, split_of
from cuma_lite.errors import UserError

RG_PREFIX = "rg:"
LEVELS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class RGFamily:
    task: str
    description: str
    config: Callable[[int], dict[str, Any]]
    """Level (1-5) -> reasoning-gym config keywords."""


def _pick(values: Sequence[Any]) -> Callable[[int], Any]:
    return lambda level: values[level - 1]


_digits = _pick((1, 1, 2, 2, 3))
_value = _pick((20, 100, 1_000, 10_000, 100_000))

RG_FAMILIES: dict[str, RGFamily] = {
    f.task: f
    for f in (
        RGFamily(
            "chain_sum",
            "integer +/- chains; level L: L+1 terms of 1,1,2,2,3 digits",
            lambda L: dict(min_terms=L + 1, max_terms=L + 1, min_digits=_digits(L), max_digits=_digits(L)),
        ),
        RGFamily(
            "simple_equations",
            "solve a linear equation in one variable; level L: 2,2,3,3,4 terms, values up to 10..1000",
            lambda L: dict(
                min_terms=2, max_terms=_pick((2, 2, 3, 3, 4))(L), max_value=_pick((10, 30, 100, 300, 1000))(L)
            ),
        ),
        RGFamily(
            "gcd",
            "greatest common divisor; level L: values up to 20..100000, 3 numbers from level 4",
            lambda L: dict(min_numbers=2, max_numbers=2 if L <= 3 else 3, max_value=_value(L)),
        ),
        RGFamily(
            "lcm",
            "least common multiple; level L: values up to 10..200, 3 numbers from level 4",
            lambda L: dict(
                min_numbers=2, max_numbers=2 if L <= 3 else 3, max_value=_pick((10, 20, 50, 100, 200))(L)
            ),
        ),
        RGFamily(
            "fraction_simplification",
            "reduce a fraction to lowest terms; level L: values up to 20..100000, factors up to 5..300",
            lambda L: dict(
                max_value=_value(L), max_factor=_pick((5, 10, 30, 100, 300))(L), styles=("plain",)
            ),
        ),
    )
}


def list_families() -> list[tuple[str, str, tuple[int, ...]]]:
    """``(name, description, levels)`` of every family: our own first, then reasoning-gym's."""
    own = [
        (name, synthetic.TASKS[name].description, synthetic.TASKS[name].levels)
        for name in synthetic.list_tasks()
    ]
    return own + [
        (RG_PREFIX + f.task, f"reasoning-gym: {f.description}", LEVELS) for f in RG_FAMILIES.values()
    ]


def family_names() -> list[str]:
    return [name for name, _, _ in list_families()]


def family_levels(name: str) -> tuple[int, ...]:
    """The levels family ``name`` has (a ValueError naming the families when it is unknown)."""
    for family, _, levels in list_families():
        if family == name:
            return tuple(levels)
    raise ValueError(f"unknown family {name!r}; choose one of {', '.join(family_names())}.")


def generate_family(
    task: str,
    levels: Sequence[int],
    per_level: int,
    seed: int,
    *,
    exclude: Collection[str] = (),
    split: str | None = None,
) -> list[dict[str, Any]]:
    """``per_level`` unique problems at each level of any family (see :func:`list_families`); ``split`` keeps
    only the problems of one disjoint split (:mod:`cuma_lite.data.splits`)."""
    if not task.startswith(RG_PREFIX):
        return synthetic.generate(task, levels, per_level, seed, exclude=exclude, split=split)
    name = task[len(RG_PREFIX) :]
    if name not in RG_FAMILIES:
        raise ValueError(f"unknown family {task!r}; choose one of {', '.join(family_names())}.")
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels or per_level < 1 or len(set(levels)) != len(levels):
        raise ValueError(f"{task}: give distinct levels from {list(LEVELS)} and per_level >= 1.")
    try:
        import reasoning_gym
    except ImportError:
        raise UserError(f"{task} needs reasoning-gym: pip install reasoning-gym") from None
    family, excluded = RG_FAMILIES[name], set(exclude)
    items: list[dict[str, Any]] = []
    for level in levels:
        config = family.config(level)
        size = (3 * per_level + 50) * (1 if split is None else 100 // SPLIT_PERCENT[split] + 1)
        dataset = reasoning_gym.create_dataset(
            name, seed=zlib.crc32(f"{task}:{level}:{seed}".encode()), size=size, **config
        )
        seen: set[str] = set()
        for entry in dataset:
            question = entry["question"]
            if (
                question in seen
                or question in excluded
                or (split is not None and split_of(question) != split)
            ):
                continue
            seen.add(question)
            items.append(
                {
                    "id": f"rg-{name}-L{level}-{len(seen) - 1:06d}",
                    "problem": question,
                    "answer": str(entry["answer"]),
                    "difficulty": level,
                    "source": f"reasoning-gym/{name}",
                    "rg_config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
                }
            )
            if len(seen) == per_level:
                break
        if len(seen) < per_level:
            raise ValueError(
                f"{task} level {level} gave only {len(seen)} distinct problems of {per_level}; ask for fewer."
            )
    return items
