"""Difficulty-controlled, verifiable synthetic problems: CuMa's "samples of a predefined difficulty" in miniature.

The paper's data pipeline produces problems whose difficulty is known in advance, so the curriculum can order them.
Here difficulty is built in: a task's level is the number of reasoning steps its solution takes. Each item is a dict
``{id, problem, answer, difficulty, solution}``:

- ``problem``: short plain ASCII (``Compute 12+7-3.``, ``Solve 3x+7=22.``): a tiny character/digit-level model is
  fine-tuned on these exact strings, so they are minimal and regular;
- ``answer``: the gold answer, an integer as a string (for evaluation only; label-free RL never sees it);
- ``difficulty``: the level, an int;
- ``solution``: a short chain of thought, one step per sentence, ending in ``\\boxed{answer}``. It exists to
  supervise a tiny base model before RL; it is never a reward.

Tasks (the ``TASKS`` registry):

- ``arithmetic``: level L (1-5) = a chain of L+1 operands in 1..49 joined by ``+``/``-``, evaluated left to right;
  the solution keeps a running total, one operation per step: ``12+7=19. 19-3=16. \\boxed{16}``. Intermediate
  results may be negative (``5-30=-25.``).
- ``linear``: a linear equation in x whose solution takes exactly L steps, one equation per step, built backwards
  from an integer answer so the answer is always an integer:
  L1 ``x+7=12`` -> ``x=5``; L2 ``3x+7=22`` -> ``3x=15``, ``x=5``; L3 ``3x+7=x+15`` (collect, isolate, divide);
  L4 ``3(x+2)+1=x+17`` (expand, collect, isolate, divide); L5 ``4(x+2)+1=2(x+5)+9`` (expand the left side, expand
  the right side, collect, isolate, divide). Coefficients are chosen so that no step is ever a no-op (the collected
  x coefficient is at least 2, the constant to move is never 0).
- ``fractions``: level L = a chain of L+1 proper fractions joined by ``+``/``-``, denominators up to 4, 6, 9, 12,
  16 at levels 1-5; the solution keeps a running total in lowest terms: ``1/2+1/3=5/6. \\boxed{5/6}``.
- ``modular``: level L = L+1 operands joined by ``+``/``*`` applied left to right modulo a prime (5-7 at level 1
  up to 17-23 at level 5); each step reduces its result: ``7*5=35=2. 2+3=5. \\boxed{5}`` (a first operand of m or
  more is reduced first, one extra step).

More families with their own difficulty knobs come from reasoning-gym: see :mod:`cuma_lite.data.families`.

Determinism: ``generate(task, levels, per_level, seed)`` gives the same items for the same arguments. Each level has
its own ``random.Random`` seeded from ``(task, level, seed)``, so asking for levels 1-3 or 1-5 gives the same level-1
items. Problems are unique within a call, and ``exclude`` keeps a held-out set disjoint from a training set. Ids are
stable: ``arith-L3-000017`` is the 18th item of level 3.

Splits: ``generate(..., split="test")`` walks the same draws and keeps only problems of that split
(:mod:`cuma_lite.data.splits`, a hash of the problem text), so the ``sft``, ``rl``, ``val`` and ``test`` sets are
disjoint whatever their seeds; their ids name the split (``arith-test-L3-000017``). ``split=None`` (the default)
is the generator as it always was: same items, same ids, same order.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from fractions import Fraction

from cuma_lite.data.splits import SPLIT_PERCENT, check_split, split_of

logger = logging.getLogger(__name__)

Generated = tuple[str, str, str]  # (problem, answer, solution)

OPERAND_RANGE = (1, 49)
ANSWER_RANGE = (-10, 10)
CONSTANT_RANGE = (1, 20)  # absolute value of the constants in a linear equation
COEFFICIENT_RANGE = (2, 9)
FRACTION_DENOMINATORS = (4, 6, 9, 12, 16)  # the largest denominator at levels 1..5
MODULI = ((5, 7), (7, 11), (11, 13), (13, 17, 19), (17, 19, 23))  # the primes a level draws from


@dataclass(frozen=True)
class Task:
    """A family of problems whose difficulty level is the number of solution steps."""

    name: str
    id_prefix: str
    description: str
    levels: tuple[int, ...]
    make: Callable[[int, random.Random], Generated]

    def generate(self, level: int, rng: random.Random) -> Generated:
        """One ``(problem, answer, solution)`` at ``level``, drawn with ``rng``."""
        if level not in self.levels:
            raise ValueError(
                f"task {self.name!r} has levels {list(self.levels)}; level {level!r} is not one of them."
            )
        return self.make(level, rng)


# ---- arithmetic -----------------------------------------------------------------------------------------------


def _arithmetic(level: int, rng: random.Random) -> Generated:
    operands = [rng.randint(*OPERAND_RANGE) for _ in range(level + 1)]
    ops = [rng.choice("+-") for _ in range(level)]
    problem = (
        f"Compute {operands[0]}" + "".join(f"{op}{b}" for op, b in zip(ops, operands[1:], strict=True)) + "."
    )
    total, steps = operands[0], []
    for op, b in zip(ops, operands[1:], strict=True):
        result = total + b if op == "+" else total - b
        steps.append(f"{total}{op}{b}={result}.")
        total = result
    return problem, str(total), _solution(steps, total)


# ---- linear equations -----------------------------------------------------------------------------------------


def _signed(value: int) -> str:
    """``+7``, ``-7``, or nothing for 0 (a constant term after an x term)."""
    return f"{value:+d}" if value else ""


def _affine(coef: int, const: int) -> str:
    """``coef*x + const`` as plain text: ``3x+7``, ``x-2``, ``2x``, ``15``."""
    if coef == 0:
        return str(const)
    x_term = "x" if coef == 1 else "-x" if coef == -1 else f"{coef}x"
    return x_term + _signed(const)


def _bracket(coef: int, shift: int, const: int) -> str:
    """``coef*(x + shift) + const`` unexpanded: ``3(x+2)+1``."""
    return f"{coef}({_affine(1, shift)}){_signed(const)}"


def _nonzero(rng: random.Random, high: int) -> int:
    return rng.choice([-1, 1]) * rng.randint(1, high)


def _linear(level: int, rng: random.Random) -> Generated:
    """Build the equation backwards from its answer ``x``; ``steps`` are the equations after each step."""
    x = rng.randint(*ANSWER_RANGE)
    if level <= 2:
        a = 1 if level == 1 else rng.randint(*COEFFICIENT_RANGE)
        b = _nonzero(rng, CONSTANT_RANGE[1])
        equation = f"{_affine(a, b)}={a * x + b}"
        steps = [] if level == 1 else [f"{a}x={a * x}"]
        return _linear_item(equation, steps, x)
    min_c = 2 if level == 5 else 1  # a bracket on the right reads 2(x+5), never 1(x+5)
    a = rng.randint(min_c + 2, COEFFICIENT_RANGE[1])
    c = rng.randint(
        min_c, a - 2
    )  # the collected coefficient a-c is >= 2, so the divide step is never a no-op
    k = a - c
    if level == 3:
        b = _nonzero(rng, CONSTANT_RANGE[1])
        d = k * x + b
        equation = f"{_affine(a, b)}={_affine(c, d)}"
        return _linear_item(equation, [f"{_affine(k, b)}={d}", f"{k}x={k * x}"], x)
    p, q = _nonzero(rng, 9), _nonzero(rng, 9)
    while a * p + q == 0:  # the expanded constant must be nonzero, else the isolate step vanishes
        q = _nonzero(rng, 9)
    b = a * p + q  # a(x+p)+q = ax+b
    if level == 4:
        d = k * x + b
        steps = [f"{_affine(a, b)}={_affine(c, d)}", f"{_affine(k, b)}={d}", f"{k}x={k * x}"]
        return _linear_item(f"{_bracket(a, p, q)}={_affine(c, d)}", steps, x)
    r = _nonzero(rng, 9)
    s = k * x + b - c * r  # chosen so that ax+b = c(x+r)+s holds at x
    d = c * r + s
    steps = [
        f"{_affine(a, b)}={_bracket(c, r, s)}",
        f"{_affine(a, b)}={_affine(c, d)}",
        f"{_affine(k, b)}={d}",
        f"{k}x={k * x}",
    ]
    return _linear_item(f"{_bracket(a, p, q)}={_bracket(c, r, s)}", steps, x)


def _linear_item(equation: str, steps: list[str], x: int) -> Generated:
    """The final step ``x=<answer>`` is shared by every level."""
    return f"Solve {equation}.", str(x), _solution([f"{s}." for s in [*steps, f"x={x}"]], x)


def _solution(steps: list[str], answer: int) -> str:
    return " ".join(steps) + f" \\boxed{{{answer}}}"


# ---- fractions ------------------------------------------------------------------------------------------------


def _fraction_text(value: Fraction) -> str:
    """``5/6``, ``-1/4``, or ``3`` for a whole number."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _fractions(level: int, rng: random.Random) -> Generated:
    """Level L: L+1 proper fractions joined by +/-, denominators in 2..FRACTION_DENOMINATOR_MAX[L]; one step a
    term, the running total reduced to lowest terms."""
    top = FRACTION_DENOMINATORS[level - 1]
    terms = []
    for _ in range(level + 1):
        den = rng.randint(2, top)
        terms.append(Fraction(rng.randint(1, den - 1), den))
    ops = [rng.choice("+-") for _ in range(level)]
    problem = (
        "Compute "
        + _fraction_text(terms[0])
        + "".join(f"{op}{t.numerator}/{t.denominator}" for op, t in zip(ops, terms[1:], strict=True))
        + "."
    )
    total, steps = terms[0], []
    for op, t in zip(ops, terms[1:], strict=True):
        result = total + t if op == "+" else total - t
        steps.append(f"{_fraction_text(total)}{op}{t.numerator}/{t.denominator}={_fraction_text(result)}.")
        total = result
    return problem, _fraction_text(total), " ".join(steps) + f" \\boxed{{{_fraction_text(total)}}}"


# ---- modular arithmetic ---------------------------------------------------------------------------------------


def _modular(level: int, rng: random.Random) -> Generated:
    """Level L: L+1 operands joined by +/*, applied left to right modulo a prime m (larger at higher levels);
    one step an operation, each result reduced mod m."""
    m = rng.choice(MODULI[level - 1])
    operands = [rng.randint(2, 3 * m) for _ in range(level + 1)]
    ops = [rng.choice("+*") for _ in range(level)]
    expr = str(operands[0]) + "".join(f"{op}{b}" for op, b in zip(ops, operands[1:], strict=True))
    problem = f"Compute {expr} mod {m}, applying the operations left to right."
    total = operands[0] % m
    steps = [] if total == operands[0] else [f"{operands[0]}={total} mod {m}."]
    for op, b in zip(ops, operands[1:], strict=True):
        raw = total + b if op == "+" else total * b
        steps.append(f"{total}{op}{b}={raw}" + (f"={raw % m}." if raw % m != raw else "."))
        total = raw % m
    return problem, str(total), " ".join(steps) + f" \\boxed{{{total}}}"


# ---- registry and public API ----------------------------------------------------------------------------------

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="arithmetic",
            id_prefix="arith",
            description="integer +/- chains; level L has L+1 operands in 1..49 (L steps of a running total)",
            levels=(1, 2, 3, 4, 5),
            make=_arithmetic,
        ),
        Task(
            name="linear",
            id_prefix="linear",
            description="linear equations in x with an integer solution; level L takes L solving steps",
            levels=(1, 2, 3, 4, 5),
            make=_linear,
        ),
        Task(
            name="fractions",
            id_prefix="frac",
            description="sums of proper fractions; level L has L+1 terms, denominators up to 4,6,9,12,16",
            levels=(1, 2, 3, 4, 5),
            make=_fractions,
        ),
        Task(
            name="modular",
            id_prefix="mod",
            description="+/* chains mod a prime, left to right; level L has L operations, moduli grow with L",
            levels=(1, 2, 3, 4, 5),
            make=_modular,
        ),
    )
}


def list_tasks() -> list[str]:
    """Names of the registered synthetic tasks."""
    return sorted(TASKS)


def generate(
    task: str,
    levels: Sequence[int],
    per_level: int,
    seed: int,
    *,
    exclude: Collection[str] = (),
    split: str | None = None,
) -> list[dict[str, str | int]]:
    """``per_level`` unique problems at each of ``levels`` (in the order given); none whose text is in ``exclude``.

    Use ``exclude`` with the training set's problems to build a disjoint held-out set, or ``split`` (``sft``,
    ``rl``, ``val``, ``test``) to draw only problems of one split; ``split=None`` draws from all problems.
    """
    spec = _check_request(task, levels, per_level)
    if split is not None:
        check_split(split)
    excluded = set(exclude)
    # A split keeps about SPLIT_PERCENT of the draws, so it gets proportionally more of them before giving up.
    attempts = 20 * per_level + 1000
    if split is not None:
        attempts = -(-attempts * 100 // SPLIT_PERCENT[split])
    id_prefix = spec.id_prefix if split is None else f"{spec.id_prefix}-{split}"
    items: list[dict[str, str | int]] = []
    for level in levels:
        rng = random.Random(f"{task}:{level}:{seed}")  # per level: other levels never shift these items
        seen: set[str] = set()
        budget = attempts
        while len(seen) < per_level:
            if budget == 0:
                pool = "distinct problems" if split is None else f"distinct {split!r}-split problems"
                raise ValueError(
                    f"{task} level {level} ran out of {pool} after {len(seen)} of {per_level}; "
                    "ask for fewer per level (or exclude fewer problems)."
                )
            budget -= 1
            problem, answer, solution = spec.generate(level, rng)
            if problem in seen or problem in excluded:
                continue
            if split is not None and split_of(problem) != split:
                continue
            seen.add(problem)
            item_id = f"{id_prefix}-L{level}-{len(seen) - 1:06d}"
            items.append(
                {
                    "id": item_id,
                    "problem": problem,
                    "answer": answer,
                    "difficulty": level,
                    "solution": solution,
                }
            )
    logger.debug(
        "generated %d %s items at levels %s (seed %d, split %s)", len(items), task, list(levels), seed, split
    )
    return items


def _check_request(task: str, levels: Sequence[int], per_level: int) -> Task:
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; choose one of {', '.join(list_tasks())}.")
    spec = TASKS[task]
    if not levels:
        raise ValueError(f"no levels given; {task} has levels {list(spec.levels)}.")
    bad = [lvl for lvl in levels if lvl not in spec.levels]
    if bad:
        raise ValueError(f"{task} has levels {list(spec.levels)}; {bad} are not among them.")
    if len(set(levels)) != len(levels):
        raise ValueError(f"levels {list(levels)} repeat a level; list each level once.")
    if per_level < 1:
        raise ValueError(f"per_level={per_level} must be >= 1.")
    return spec
