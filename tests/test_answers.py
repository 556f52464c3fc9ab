"""Answer extraction and equivalence: hand-checked cases, the tiers against math-verify, real benchmark data."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cuma_lite import answers
from cuma_lite.answers import answers_equivalent, clear_caches, extract_answer, normalize_answer
from cuma_lite.numeric_signatures import cheap_verdict

DATA = Path(__file__).parents[2] / "shared" / "data"


def _rows(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found: the benchmark data lives in ../shared/data next to the clone")
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("nested: \\boxed{\\sqrt{\\frac{a}{b}}} done", "\\sqrt{\\frac{a}{b}}"),
        ("escaped braces \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("first \\boxed{2}, then \\boxed{3}", "3"),
        ("\\boxed{3} then a truncated \\boxed{12", "3"),
        ("\\fbox{7}", "7"),
        ("thus \\boxed 5$.", "5"),
        ("The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}"),
        ("The final answer is 42.", "42"),
        ("Therefore, the answer is: **17**", "17"),
        ("The answer is $(3, \\frac{\\pi}{2})$.", "(3, \\frac{\\pi}{2})"),
        ("Natalia sold 48 clips.\n#### 72\n", "72"),
        ("I think 3 and then 4.5 apples.", "4.5"),
        ("it is -7", "-7"),
        ("no numbers here", None),
        ("", None),
        ("\\boxed{}", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_boxed_beats_phrases_and_phrases_beat_the_last_number() -> None:
    assert extract_answer("The final answer is 3. Check: \\boxed{4}, 5") == "4"
    assert extract_answer("The final answer is 3. Check: 4 + 5 = 9") == "3"


# ----------------------------------------------------------------------------------------------- normal form


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("142.0", "142"),
        ("\\dfrac{1}{2}", "0.5"),
        ("\\frac12", "0.5"),
        ("1/3", "1/3"),
        ("-\\frac{35}{9}", "-35/9"),
        ("025", "25"),
        ("10,\\!080", "10080"),
        ("\\$32,\\!348", "32348"),
        ("137 \\frac{1}{2}", "137.5"),
        ("90^\\circ", "90"),
        ("\\frac{270}7\\text{ degrees}", "270/7"),
        ("\\text{(C)}", "c"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
        ("\\cot x", "\\cot x"),
        ("X = 5.0", "x=5"),
        ("$\\boxed{7}$", "7"),
        ("   ", ""),
    ],
)
def test_normalize_answer(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


def test_normal_form_is_idempotent_on_math500_answers() -> None:
    for row in _rows("math500.jsonl"):
        once = normalize_answer(row["answer"])
        assert normalize_answer(once) == once, row["answer"]


# ----------------------------------------------------------------------------------------------- equivalence

EQUIVALENT = [
    ("142", "142.0"),
    ("\\dfrac{1}{2}", "\\frac12"),
    ("\\frac12", "1/2"),
    ("1/2", "0.5"),
    ("\\dfrac{1}{2}", "0.5"),
    ("90^\\circ", "90"),
    ("\\text{(C)}", "C"),
    ("C", "(C)"),
    ("\\text{(C)}", "(C)"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"),
    ("6\\,\\sqrt{2}", "6 \\sqrt {2}"),
    ("10,\\!080", "10080"),
    ("x = 5", "5"),
    ("x \\in [-2,7]", "[-2, 7]"),
    ("1, -2", "-2, 1"),
    ("3 \\pm 2\\sqrt{2}", "3+2\\sqrt{2}, 3-2\\sqrt{2}"),
    ("(0,9) \\cup [9,36)", "(0,36)"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),
    ("2\\sqrt{5}", "\\sqrt{20}"),
    ("1+274i", "274i+1"),
    ("(x+1)^2", "x^2+2x+1"),
    ("0.333333", "\\frac13"),
    ("\\frac{\\sin x}{\\cos x}", "\\tan x"),
    ("\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}", "\\begin{pmatrix} 0.2 \\\\ -3.6 \\end{pmatrix}"),
]

NOT_EQUIVALENT = [
    ("1/2", "1/3"),
    ("x+1", "x-1"),
    ("(C)", "D"),
    ("142", "143.0"),
    ("0.5", "0.55"),
    ("x=5", "y=5"),
    ("x=5", "6"),
    ("(1,2)", "[1,2]"),
    ("(0,9) \\cup (9,36)", "(0,36)"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1,2)"),
    ("6+9i", "6-9i"),
    ("2", "6\\sqrt{2}"),
    ("\\text{Evelyn}", "\\text{Navin}"),
    ("1,2,3", "1,2"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_forms(a: str, b: str) -> None:
    assert answers_equivalent(a, b)
    assert answers_equivalent(b, a)


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_different_answers(a: str, b: str) -> None:
    assert not answers_equivalent(a, b)
    assert not answers_equivalent(b, a)


def test_symmetric_even_where_math_verify_is_not() -> None:
    # math_verify.verify unwraps an equation's right-hand side only when it is the prediction
    for a, b in [("0", "5x-7y+11z+4=0"), ("2", "x^2=2"), ("y=2x+3", "2x+3")]:
        clear_caches()
        forward = answers_equivalent(a, b)
        clear_caches()
        assert answers_equivalent(b, a) == forward


@pytest.mark.parametrize("blank", ["", "   ", "$$", "\\boxed{}"])
def test_blank_answers_equal_nothing(blank: str) -> None:
    assert not answers_equivalent(blank, blank)
    assert not answers_equivalent(blank, "1")


@pytest.mark.parametrize(
    "garbage", ["\\frac{", "}{", "\\frac{1}{0}", "1/0", "\\sqrt{-4}", "((", "\\begin{pmatrix}"]
)
def test_never_raises(garbage: str) -> None:
    assert answers_equivalent(garbage, "2") is False
    assert answers_equivalent(garbage, garbage) is True  # same normal form


@pytest.mark.parametrize(
    "pathological",
    ["9^9^9^9^9", "9^{9^{9^{9}}}", "10^{10^{10}}", "+".join(["x"] * 2500), "\\frac{1}{2}" * 500],
)
def test_pathological_inputs_return_quickly(pathological: str) -> None:
    clear_caches()
    start = time.perf_counter()
    assert answers_equivalent(pathological, "1") is False
    assert time.perf_counter() - start < 5.0


def test_works_off_the_main_thread_with_bounded_time() -> None:
    # math-verify's signal-based timeouts raise off the main thread; we must neither raise nor hang
    clear_caches()
    results: list[bool] = []
    pairs = [("\\frac{\\sin x}{\\cos x}", "\\tan x"), ("9^{9^{9^{9}}}", "1"), ("x+1", "x-1")]
    worker = threading.Thread(target=lambda: results.extend(answers_equivalent(a, b) for a, b in pairs))
    start = time.perf_counter()
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert results == [True, False, False]
    assert time.perf_counter() - start < 15.0


def test_cached_and_cache_clearable() -> None:
    clear_caches()
    answers_equivalent("\\frac{\\sin x}{\\cos x}", "\\tan x")
    assert answers._parsed.cache_info().currsize == 2
    assert answers._keys_equivalent.cache_info().currsize == 1
    answers_equivalent("\\tan x", "\\frac{\\sin x}{\\cos x}")  # the other order hits the same entry
    assert answers._keys_equivalent.cache_info().hits == 1
    clear_caches()
    assert answers._parsed.cache_info().currsize == 0
    assert normalize_answer.cache_info().currsize == 0


def test_plain_numbers_and_letters_never_reach_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(a: str, b: str) -> bool:
        raise AssertionError(f"math-verify called on {a!r} vs {b!r}")

    monkeypatch.setattr(answers, "_math_verify_equal", forbidden)
    clear_caches()
    group = ["\\frac{14}{3}", "4.6", "14/3", "\\dfrac{14}{3}", "5", "(C)", "D", "x=4", "2\\sqrt{5}", "(1,2)"]
    for a, b in itertools.combinations(group, 2):
        answers_equivalent(a, b)


# --------------------------------------------------------------- the cheap tier agrees with math-verify


def _agreement_pairs() -> list[tuple[str, str]]:
    golds = sorted({normalize_answer(row["answer"]) for row in _rows("math500.jsonl")})[::10]
    variants = [(a, b) for a, b in EQUIVALENT + NOT_EQUIVALENT]
    return list(itertools.combinations(golds, 2)) + variants


def test_cheap_verdicts_agree_with_math_verify() -> None:
    """Wherever the numeric signatures decide, math-verify (on the same canonical pair) decides the same."""
    clear_caches()
    decided = 0
    for a, b in _agreement_pairs():
        key_a, key_b = sorted((normalize_answer(a), normalize_answer(b)))
        if key_a == key_b:
            continue
        verdict = cheap_verdict(key_a, key_b)
        if verdict is not None:
            decided += 1
            assert verdict == answers._math_verify_equal(key_a, key_b), (key_a, key_b, verdict)
    assert decided > 400


# -------------------------------------------------------------------------------------------- benchmark data


def test_math500_solutions_box_the_gold_answer() -> None:
    rows = _rows("math500.jsonl")
    misses = [
        (row["id"], extract_answer(row["solution"]), row["answer"])
        for row in rows
        if not answers_equivalent(extract_answer(row["solution"]) or "", row["answer"])
    ]
    print(f"math500 misses: {len(misses)}/{len(rows)}: {misses}")
    assert len(misses) <= 0.01 * len(rows), misses


def test_amc23_float_answers_equal_their_integers() -> None:
    rows = _rows("amc23.jsonl")
    assert len(rows) == 83
    for row in rows:
        as_int = str(int(float(row["answer"])))
        assert answers_equivalent(row["answer"], as_int)
        assert not answers_equivalent(row["answer"], str(int(as_int) + 1))


def test_importing_the_vote_stays_light() -> None:
    code = (
        "import sys, cuma_lite.voting, cuma_lite.answers;"
        "heavy = {'math_verify', 'sympy', 'torch', 'trl', 'transformers', 'vllm'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
