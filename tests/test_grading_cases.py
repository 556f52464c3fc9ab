"""Grading cases (``tests/data/grading_cases.jsonl``): our verdicts, the recorded ones, and math-verify live.

Each case pairs a gold answer from the shipped benchmarks (``source``; "issue" for the issue's own examples)
with a prediction: a bare answer (``prediction``) or a full completion (``completion``, graded through
``extract_answer``, which must give ``extracted``). ``math_verify`` is ``verify(parse("$gold$"), parse(x))``
with ``x`` the ``$``-wrapped answer or the completion as is; ``expected`` is our verdict, and a ``reason`` says
why wherever the two differ on purpose. Bare answers are also graded the other way round (``*_reverse``).

After upgrading math-verify, re-record its verdicts (ours and the reasons are kept):
``python tests/test_grading_cases.py --record``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from cuma_lite import answers
from cuma_lite.answers import answers_equivalent, extract_answer, grade, normalize_answer
from cuma_lite.numeric_signatures import cheap_verdict

CASES_PATH = Path(__file__).parent / "data" / "grading_cases.jsonl"
CASES = [json.loads(line) for line in CASES_PATH.read_text().splitlines() if line.strip()]
PAIRS = [case for case in CASES if "prediction" in case]


def _prediction(case: dict) -> str | None:
    return case["prediction"] if "prediction" in case else extract_answer(case["completion"])


def test_the_suite_covers_the_issue_kinds() -> None:
    kinds = Counter(case["kind"] for case in CASES)
    assert len(CASES) >= 200
    for kind in [
        "multi_box",
        "phrase",
        "dollar",
        "ambiguous",
        "percent",
        "comma",
        "relation",
        "form",
        "wrong",
        "aime",
        "amc",
        "full",
    ]:
        assert kinds[kind] >= 5, kind


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_grade_gives_the_recorded_verdict(case: dict) -> None:
    if "completion" in case:
        assert extract_answer(case["completion"]) == case["extracted"]
    assert grade(_prediction(case), case["gold"]).correct is case["expected"]
    if "prediction" in case:
        assert grade(case["gold"], case["prediction"]).correct is case["expected_reverse"]


@pytest.mark.parametrize("case", PAIRS, ids=[case["id"] for case in PAIRS])
def test_the_vote_is_symmetric_and_needs_both_orders(case: dict) -> None:
    forward = answers_equivalent(case["prediction"], case["gold"])
    assert forward is answers_equivalent(case["gold"], case["prediction"])
    assert forward is (case["expected"] and case["expected_reverse"])


def test_every_difference_from_math_verify_has_a_reason() -> None:
    for case in CASES:
        for suffix in ("", "_reverse"):
            if f"expected{suffix}" in case:
                differs = case[f"expected{suffix}"] != case[f"math_verify{suffix}"]
                assert differs == bool(case.get(f"reason{suffix}")), (case["id"], suffix)


def test_math_verify_live_gives_the_recorded_verdicts() -> None:
    """Recorded verdicts are math-verify's own, so the deliberate differences above are real ones."""
    pytest.importorskip("math_verify")
    changed = [
        (case["id"], field)
        for case in CASES
        for field, value in _math_verify(case).items()
        if case[field] != value
    ]
    assert not changed, f"math-verify now decides differently; re-record with --record: {changed}"


def test_cheap_tier_agrees_with_math_verify_both_ways() -> None:
    """Wherever the numeric signatures decide a pair, math-verify decides the same, in both orders."""
    pytest.importorskip("math_verify")
    answers.clear_caches()
    decided = 0
    for case in PAIRS:
        gold, predicted = normalize_answer(case["gold"]), normalize_answer(case["prediction"])
        verdict = cheap_verdict(gold, predicted)
        assert verdict == cheap_verdict(predicted, gold), case["id"]
        if verdict is None or gold == predicted:
            continue
        decided += 1
        assert verdict == answers._math_verify_equal(gold, predicted), case["id"]
        assert verdict == answers._math_verify_equal(predicted, gold), case["id"]
    assert decided >= 60


def test_agreement_with_math_verify() -> None:
    """Report and pin the agreement: every disagreement is a deliberate, explained one."""
    agreeing = sum(grade(_prediction(case), case["gold"]).correct is case["math_verify"] for case in CASES)
    deliberate = sum(case["expected"] != case["math_verify"] for case in CASES)
    print(f"agreement with math-verify: {agreeing}/{len(CASES)} ({deliberate} deliberate differences)")
    assert agreeing == len(CASES) - deliberate


# ------------------------------------------------------------------------------------------- re-recording


def _math_verify(case: dict) -> dict[str, bool]:
    from math_verify import parse, verify

    gold = parse(f"${case['gold']}$")
    if "completion" in case:
        return {"math_verify": bool(verify(gold, parse(case["completion"])))}
    predicted = parse(f"${case['prediction']}$")
    return {
        "math_verify": bool(verify(gold, predicted)),
        "math_verify_reverse": bool(verify(predicted, gold)),
    }


def _record() -> None:
    """Rewrite the math-verify fields from the installed math-verify; ours and the reasons stay as they are."""
    lines = [json.dumps({**case, **_math_verify(case)}, ensure_ascii=False) for case in CASES]
    CASES_PATH.write_text("\n".join(lines) + "\n")
    print(f"re-recorded {len(lines)} cases in {CASES_PATH}; check the reasons where verdicts changed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        _record()
    else:
        sys.exit(f"usage: python {sys.argv[0]} --record")
