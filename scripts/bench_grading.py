"""Benchmark: grade a realistic batch of full completions against gold answers, ours vs math-verify alone.

The batch: 64 groups x 8 completions (seeded). Each group is a problem drawn from the shipped MATH-500, AIME 2024
and AMC 2023; its answers are drawn as in ``bench_vote.py`` (gold answers in realistic variants, near misses,
other problems' answers, a few missing), then written out as completions in the styles real models use: a
final ``\\boxed{}``, often after intermediate boxes; "The final answer is $..$" after an intermediate box; the
Minerva "Final Answer: ... I hope it is correct."; Llama-3's "The final answer is: $\\boxed{..}$"; a tuple boxed
part by part; ``**Answer:**``; a bare ``$..$``; and, for a missing answer, a completion cut off inside its box.

Timed in one process, on one core, caches cleared before each run (ours, math-verify's, sympy's):

1. ours: ``extract_answer`` then ``grade(prediction, gold)`` for every completion;
2. math-verify alone: ``parse`` each gold once per group, ``parse`` every completion, ``verify(gold, parse)``;
3. the label-free vote of every group: ``majority_vote`` on our extractions vs the naive math-verify clusterer of
   ``bench_vote.py`` on math-verify's.

4. the hard cases of ``tests/data/grading_cases.jsonl`` (bare answers and full completions), graded both ways.

Then, untimed: how often we agree with math-verify on those cases, and how many MATH-500 gold solutions give
back their gold answer through ``extract_answer``; with ``--baseline REV``, the same for that git revision's
grading code (read with ``git show``, as ``check_grading_stable.py`` does), which graded with
``answers_equivalent(prediction, gold)``.

It prints the ratios, which tier settled our verdicts, and every completion where the two graders disagree
(each should be one of the deliberate differences of ``docs/grading.md``).

    python scripts/bench_grading.py [--seed 0] [--groups 64] [--size 8] [--baseline 9c63185]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vote import clear_all_caches, make_groups, naive_vote, pin_to_one_core, warm_up_imports
from check_grading_stable import load_baseline

from cuma_lite.answers import extract_answer, grade
from cuma_lite.benchmarks import benchmark_path
from cuma_lite.voting import majority_vote

STEPS = [
    "We start by writing the given condition as an equation.",
    "Expanding and collecting like terms, the expression simplifies nicely.",
    "By symmetry, it suffices to consider the first case.",
    "Substituting back, we check that the constraint holds.",
]


CASES = Path(__file__).resolve().parents[1] / "tests" / "data" / "grading_cases.jsonl"


def load_golds() -> list[str]:
    golds = []
    for name in ("math500", "aime24", "amc23"):
        with benchmark_path(name).open() as f:
            golds += [json.loads(line)["answer"] for line in f if line.strip()]
    return golds


def completion(answer: str | None, rng: random.Random) -> str:
    """A completion whose final answer is ``answer`` (None: cut off inside its box), in a random style."""
    steps = " ".join(rng.sample(STEPS, 2))
    if rng.random() < 0.4:  # an intermediate result, boxed
        steps += f" This gives $t = \\boxed{{{rng.randint(2, 400)}}}$ for the first part, which we use next."
    if answer is None:
        return f"{steps}\n\nTherefore the answer is \\boxed{{\\frac{{{rng.randint(1, 9)}"
    parts = _parts(answer)
    style = rng.randrange(8)
    if style == 0 and parts:
        return f"{steps}\nSo $a = \\boxed{{{parts[0]}}}$ and $b = \\boxed{{{parts[1]}}}$."
    if style == 1:
        return f"{steps}\n\nThe final answer is ${answer}$."
    if style == 2:
        return f"{steps}\n\nFinal Answer: The final answer is ${answer}$. I hope it is correct."
    if style == 3:
        return f"## Step 1\n{steps}\n\n## Step 2\nCombine the results.\n\nThe final answer is: $\\boxed{{{answer}}}$"
    if style == 4:
        return f"{steps}\n\n**Answer:** ${answer}$"
    if style == 5:
        return f"{steps} Hence the value we want is ${answer}$."
    return f"{steps}\nTherefore, the answer is $\\boxed{{{answer}}}$."


def _parts(answer: str) -> list[str] | None:
    """The two coordinates of a pair ``(a, b)``, for a completion that boxes them one by one."""
    inner = re.fullmatch(r"(?:\\left)?\(\s*([^(),]+?)\s*,\s*([^(),]+?)\s*(?:\\right)?\)", answer.strip())
    return [inner.group(1), inner.group(2)] if inner else None


def batch_with_golds(golds: list[str], n_groups: int, size: int, seed: int) -> list[tuple[str, list[str]]]:
    """As :func:`make_groups` draws problems: rebuild its problem order to know each group's gold."""
    problems = random.Random(seed).sample(range(len(golds)), n_groups)
    rng = random.Random(seed + 1)
    groups = make_groups(golds, n_groups, size, seed)
    return [
        (golds[p], [completion(a, rng) for a in group]) for p, group in zip(problems, groups, strict=True)
    ]


# ------------------------------------------------------------------------------------------------ timing


def ours(batch: list[tuple[str, list[str]]]) -> tuple[float, list[list[bool]], Counter[str]]:
    clear_all_caches()
    tiers: Counter[str] = Counter()
    start = time.perf_counter()
    verdicts = []
    for gold, completions in batch:
        graded = [grade(extract_answer(text), gold) for text in completions]
        tiers.update(g.tier for g in graded)
        verdicts.append([g.correct for g in graded])
    return time.perf_counter() - start, verdicts, tiers


def math_verify_alone(batch: list[tuple[str, list[str]]]) -> tuple[float, list[list[bool]]]:
    from math_verify import parse, verify

    clear_all_caches()
    start = time.perf_counter()
    verdicts = []
    for gold, completions in batch:
        gold_parsed = parse(f"${gold}$")
        verdicts.append([bool(verify(gold_parsed, parse(text))) for text in completions])
    return time.perf_counter() - start, verdicts


def votes(batch: list[tuple[str, list[str]]]) -> tuple[float, float]:
    """Seconds for our vote (on our extractions) and the naive one (on math-verify's extractions)."""
    from math_verify import parse

    clear_all_caches()
    start = time.perf_counter()
    for _, completions in batch:
        majority_vote([extract_answer(text) for text in completions], min_share=0.5)
    ours_s = time.perf_counter() - start
    clear_all_caches()
    start = time.perf_counter()
    for _, completions in batch:
        extracted = [parse(text) for text in completions]
        naive_vote([p[1] if len(p) > 1 else None for p in extracted], min_share=0.5)
    return ours_s, time.perf_counter() - start


def hard_cases() -> tuple[float, float, Counter[str]]:
    """Seconds for ours and for math-verify alone on the grading cases, cold, and our tiers there."""
    from math_verify import parse, verify

    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    clear_all_caches()
    tiers: Counter[str] = Counter()
    start = time.perf_counter()
    for case in cases:
        predicted = case.get("prediction") or extract_answer(case["completion"])
        tiers[grade(predicted, case["gold"]).tier] += 1
    ours_s = time.perf_counter() - start
    clear_all_caches()
    start = time.perf_counter()
    for case in cases:
        text = f"${case['prediction']}$" if "prediction" in case else case["completion"]
        verify(parse(f"${case['gold']}$"), parse(text))
    return ours_s, time.perf_counter() - start, tiers


def agreement(
    extract: Callable[[str], str | None], correct: Callable[[str | None, str], bool]
) -> tuple[str, str]:
    """Grading cases agreeing with math-verify, and MATH-500 solutions giving back their gold answer."""
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    agreeing = sum(
        correct(case.get("prediction") or extract(case["completion"]), case["gold"]) == case["math_verify"]
        for case in cases
    )
    with benchmark_path("math500").open() as f:
        rows = [json.loads(line) for line in f if line.strip()]
    recovered = sum(correct(extract(row["solution"]), row["answer"]) for row in rows)
    return f"{agreeing}/{len(cases)}", f"{recovered}/{len(rows)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--groups", type=int, default=64)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--baseline", help="also measure this git revision's agreement (e.g. 9c63185)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    pinning = pin_to_one_core()
    batch = batch_with_golds(load_golds(), args.groups, args.size, args.seed)
    n = sum(len(c) for _, c in batch)
    warm_up_imports()
    ours_s, ours_verdicts, tiers = ours(batch)
    mv_s, mv_verdicts = math_verify_alone(batch)
    vote_ours_s, vote_naive_s = votes(batch)
    hard_ours_s, hard_mv_s, hard_tiers = hard_cases()

    print(f"{args.groups} groups x {args.size} completions = {n} (seed {args.seed}), {pinning}")
    print(f"  grading vs gold, ours            : {ours_s:.3f} s")
    print(f"  grading vs gold, math-verify     : {mv_s:.3f} s")
    print(f"  speed-up (math-verify / ours)    : {mv_s / ours_s:.1f}x")
    print(f"  our verdicts by tier             : {dict(tiers.most_common())}")
    print(
        f"  vote, ours / naive math-verify   : {vote_ours_s:.3f} s / {vote_naive_s:.3f} s "
        f"({vote_naive_s / vote_ours_s:.1f}x)"
    )
    print(
        f"  hard grading cases, ours / math-verify: {hard_ours_s:.3f} s / {hard_mv_s:.3f} s "
        f"({hard_mv_s / hard_ours_s:.1f}x); tiers {dict(hard_tiers.most_common())}"
    )
    cases, math500 = agreement(extract_answer, lambda p, g: grade(p, g).correct)
    print(
        f"  agreement with math-verify on the grading cases: {cases}; MATH-500 solutions -> gold: {math500}"
    )
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            old = load_baseline(args.baseline, Path(tmp))
            cases, math500 = agreement(
                old.extract_answer, lambda p, g: p is not None and old.answers_equivalent(p, g)
            )
        print(f"  the same for {args.baseline}: {cases}; MATH-500 solutions -> gold: {math500}")
    differ = [
        (gold, text, mine)
        for (gold, texts), mine_row, theirs_row in zip(batch, ours_verdicts, mv_verdicts, strict=True)
        for text, mine, theirs in zip(texts, mine_row, theirs_row, strict=True)
        if mine != theirs
    ]
    print(f"  completions where ours and math-verify disagree: {len(differ)}/{n}")
    for gold, text, mine in differ:
        print(f"    gold {gold!r}: ours {mine}, math-verify {not mine}; extracted {extract_answer(text)!r}")
        print(f"      {text[-140:]!r}")


if __name__ == "__main__":
    main()
