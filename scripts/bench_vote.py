"""Benchmark: cold-cache majority vote over 64 groups x 8 MATH-style LaTeX answers, against a naive clusterer.

The answers are drawn with a fixed seed from MATH-500's gold answers: correct ones in realistic variants
(``\\dfrac``/``\\frac``, ``0.5``/``\\frac12``, ``142.0``, spacing, ``\\left(``, ``^\\circ``, ``\\text{(C)}``/``C``),
a third of them rewritten so that no normalisation merges them (``2\\sqrt{5}``/``\\sqrt{20}``, ``a+b``/``b+a``,
``\\frac{p}{q}``/``p/q``, roots in another order, ``x = 5``); wrong ones taken from other problems or made by
perturbing a number, a few repeated (wrong answers cluster too) and a few missing (no final answer).

Timed, on one core, in this order:

1. ``majority_vote`` over every group, all caches cleared (ours, math-verify's, sympy's);
2. a naive vote in the same process: every answer parsed by math-verify and clustered greedily against class
   representatives with ``math_verify.verify``, caches cleared likewise;
3. ``majority_vote`` again, caches cleared but the process warm (antlr's parser state, code paths).

"Cold" excludes importing math-verify and one trivial parse/verify (the import-time warm-up every process
pays once); it includes all parsing and comparing. Run 1 goes first, so any remaining warm-up cost falls on
our side. The two votes are then compared group by group (label, share, mask, classes).

    python scripts/bench_vote.py [--seed 0] [--groups 64] [--size 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cuma_lite import answers as answers_module
from cuma_lite.benchmarks import benchmark_path
from cuma_lite.voting import Vote, majority_vote, no_majority_mask

DATA = benchmark_path("math500")
TARGET_S = 0.3


def pin_to_one_core() -> str:
    """One core, one thread: the issue's setting."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


# ------------------------------------------------------------------------------------------------ the data


def load_gold(path: Path) -> list[str]:
    with path.open() as f:
        return [json.loads(line)["answer"] for line in f if line.strip()]


def variant(answer: str, rng: random.Random) -> str:
    """A different way of writing the same answer, as a model might."""
    s = rewrite(answer, rng) if rng.random() < 0.35 else answer
    number = re.fullmatch(r"(-?)\\[dt]?frac\{?(\d+)\}?\{?(\d+)\}?", s)
    if number and rng.random() < 0.5:
        sign, p, q = number.groups()
        decimal = int(p) / int(q) if int(q) else 0.0
        s = f"{sign}{p}/{q}" if len(repr(decimal)) > 8 or rng.random() < 0.5 else f"{sign}{decimal:g}"
    elif re.fullmatch(r"-?\d+", s) and rng.random() < 0.2:
        s += ".0"
    if rng.random() < 0.3:
        s = s.replace("\\frac", "\\dfrac")
    if rng.random() < 0.3:
        s = re.sub(r"\\frac\{(\d)\}\{(\d)\}", r"\\frac\1\2", s)
    if rng.random() < 0.4:  # spaces around operators and list commas (not thousands separators)
        s = re.sub(r"\s*([+=]|,(?!\\!|\d{3})|(?<=[\w}])-)\s*", r" \1 ", s).strip()
    if rng.random() < 0.3 and s.startswith("(") and s.endswith(")") and s.count("(") == 1:
        s = f"\\left( {s[1:-1]} \\right)"
    if "^\\circ" in answer and rng.random() < 0.5:
        s = s.replace("^\\circ", "")
    elif re.fullmatch(r"\d+", s) and rng.random() < 0.05:
        s += "^\\circ"
    choice = re.fullmatch(r"\\text\{\((\w)\)\}", s)
    if choice and rng.random() < 0.7:
        s = rng.choice([f"({choice.group(1)})", choice.group(1)])
    return s


def rewrite(answer: str, rng: random.Random) -> str:
    """The same value in a form no normalisation merges: these are the pairs that need real math."""
    rewrites: list[str] = []
    terms = re.fullmatch(r"([^+]+)\+([^+]+)", answer)
    if terms and terms.group(1).count("{") == terms.group(1).count("}") and not re.search("[(,=]", answer):
        rewrites.append(f"{terms.group(2).strip()} + {terms.group(1).strip()}")  # a + b -> b + a
    fraction = re.fullmatch(r"(-?)\\frac\{([^{}]+)\}\{([^{}]+)\}", answer)
    if fraction and not fraction.group(2).isdigit():
        sign, p, q = fraction.groups()
        rewrites.append(f"{sign}({p})/({q})" if re.search(r"[+-]", p) else f"{sign}{p}/{q}")
    root = re.fullmatch(r"(\d+)\s*\\sqrt\{(\d+)\}", answer)
    if root:
        rewrites.append(f"\\sqrt{{{int(root.group(1)) ** 2 * int(root.group(2))}}}")  # 2\sqrt{5} -> \sqrt{20}
    if re.fullmatch(r"-?\d+(,\s*-?\d+)+", answer):
        rewrites.append(", ".join(reversed(re.split(r",\s*", answer))))  # a list of roots, other order
    if answer == "\\frac{\\sqrt{3}}{3}":
        rewrites.append("\\frac{1}{\\sqrt{3}}")
    if re.fullmatch(r"-?\d+", answer):
        rewrites.append(f"x = {answer}")
    return rng.choice(rewrites) if rewrites else answer


def perturb(answer: str, rng: random.Random) -> str | None:
    """A near-miss: one number of the answer changed. None when it has no number."""
    numbers = list(re.finditer(r"\d+", answer))
    if not numbers:
        return None
    m = rng.choice(numbers)
    changed = abs(int(m.group()) + rng.choice([-3, -2, -1, 1, 2, 3, 10])) or 1
    return answer[: m.start()] + str(changed) + answer[m.end() :]


def make_groups(gold: Sequence[str], n_groups: int, size: int, seed: int) -> list[list[str | None]]:
    rng = random.Random(seed)
    groups = []
    for problem in rng.sample(range(len(gold)), n_groups):
        n_correct = rng.choice([0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8])
        group: list[str | None] = [variant(gold[problem], rng) for _ in range(n_correct)]
        while len(group) < size:
            group.append(wrong_answer(gold, problem, group, rng))
        rng.shuffle(group)
        groups.append(group)
    return groups


def wrong_answer(
    gold: Sequence[str], problem: int, group: list[str | None], rng: random.Random
) -> str | None:
    roll = rng.random()
    wrong_so_far = [a for a in group if a is not None and a != gold[problem]]
    if roll < 0.1:
        return None  # the completion gave no final answer
    if roll < 0.25 and wrong_so_far:
        return variant(rng.choice(wrong_so_far), rng)  # a popular wrong answer
    if roll < 0.6:
        near = perturb(gold[problem], rng)
        if near is not None:
            return near
    return variant(gold[rng.randrange(len(gold))], rng)


# ------------------------------------------------------------------------------------------ the naive vote


def naive_vote(answers: Sequence[str | None], min_share: float) -> Vote:
    """Parse every answer with math-verify, cluster greedily against class representatives."""
    from math_verify import parse, verify

    parsed = [(parse(f"${a}$") or [a]) if a and a.strip() else None for a in answers]
    classes: list[list[int]] = []
    for i, p in enumerate(parsed):
        if p is None:
            continue
        home = next((c for c in classes if verify(parsed[c[0]], p)), None)
        if home is None:
            classes.append([i])
        else:
            home.append(i)
    sizes = [len(c) for c in classes]
    largest = max(sizes, default=0)
    share = largest / len(answers) if answers else 0.0
    if no_majority_mask(share, tied=sizes.count(largest) > 1, min_share=min_share):
        return Vote(None, share, True, [None] * len(answers), classes)
    winners = set(classes[sizes.index(largest)])
    rewards: list[float | None] = [1.0 if i in winners else 0.0 for i in range(len(answers))]
    return Vote(answers[min(winners)], share, False, rewards, classes)


# ------------------------------------------------------------------------------------------------ timing


def clear_all_caches() -> None:
    import math_verify.parser as mv_parser
    from sympy.core.cache import clear_cache

    answers_module.clear_caches()
    for cached in (mv_parser.parse_latex_cached, mv_parser.parse_expr_cached, mv_parser.extract_latex):
        cached.cache_clear()
    clear_cache()


def warm_up_imports() -> None:
    from math_verify import parse, verify

    verify(parse("$1$"), parse("$2$"))


def timed(
    vote: Callable[[Sequence[str | None], float], Vote], groups: list[list[str | None]]
) -> tuple[float, list[Vote]]:
    clear_all_caches()
    start = time.perf_counter()
    votes = [vote(group, 0.5) for group in groups]
    return time.perf_counter() - start, votes


def ours(answers: Sequence[str | None], min_share: float) -> Vote:
    return majority_vote(answers, min_share=min_share)


def disagreements(groups: list[list[str | None]], a: list[Vote], b: list[Vote]) -> list[str]:
    out = []
    for k, (group, x, y) in enumerate(zip(groups, a, b, strict=True)):
        if (x.label, x.share, x.masked, x.classes) != (y.label, y.share, y.masked, y.classes):
            out.append(
                f"  group {k}: {group}\n    ours  {x.classes} label={x.label!r}\n    naive {y.classes} label={y.label!r}"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--groups", type=int, default=64)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    pinning = pin_to_one_core()
    groups = make_groups(load_gold(args.data), args.groups, args.size, args.seed)
    n_answers = sum(map(len, groups))
    warm_up_imports()
    ours_cold, ours_votes = timed(ours, groups)
    naive_s, naive_votes = timed(naive_vote, groups)
    ours_warm, _ = timed(ours, groups)

    diff = disagreements(groups, ours_votes, naive_votes)
    masked = sum(v.masked for v in ours_votes)
    print(f"{args.groups} groups x {args.size} answers = {n_answers} answers (seed {args.seed}), {pinning}")
    print(f"  masked groups (min_share=0.5): {masked}/{args.groups}")
    print(f"  ours, cold process    : {ours_cold:.3f} s  (target <= {TARGET_S} s)")
    print(f"  naive math-verify     : {naive_s:.3f} s")
    print(f"  ours, warm process    : {ours_warm:.3f} s")
    print(f"  speed-up (naive/ours) : {naive_s / ours_cold:.1f}x cold, {naive_s / ours_warm:.1f}x warm")
    print(f"  groups where ours and naive disagree (label/share/mask/classes): {len(diff)}")
    for line in diff:
        print(line)


if __name__ == "__main__":
    main()
