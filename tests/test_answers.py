"""Answer extraction, grading and equivalence: hand-checked rules, the tiers against math-verify, benchmark data.

The larger table of grading cases, with math-verify's verdicts, is ``tests/test_grading_cases.py``.
"""

from __future__ import annotations

import doctest
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cuma_lite import answers, extraction
from cuma_lite.answers import Grade, answers_equivalent, clear_caches, extract_answer, grade, normalize_answer
from cuma_lite.benchmarks import benchmark_path
from cuma_lite.numeric_signatures import cheap_verdict


def _rows(name: str) -> list[dict]:
    """A shipped benchmark (``math500``, ``aime24``, ``amc23``)."""
    with benchmark_path(name).open() as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("nested: \\boxed{\\sqrt{\\frac{a}{b}}} done", "\\sqrt{\\frac{a}{b}}"),
        ("escaped braces \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("first \\boxed{2}, then \\boxed{3}", "3"),
        ("\\boxed{3} then a truncated \\boxed{12", None),
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # parts of one answer: only a separator and a label between the boxes
        ("$a = \\boxed{3}$, $b = \\boxed{5}$", "3, 5"),
        ("the roots are \\boxed{-2} and \\boxed{1}", "-2, 1"),
        ("$x = \\boxed{2}$ or $x = \\boxed{-2}$", "2, -2"),
        ("\\[ m = \\boxed{15} \\]\n\\[ n = \\boxed{-29} \\]", "15, -29"),
        ("(a) \\boxed{3} (b) \\boxed{5}", "3, 5"),
        ("\\boxed{4}\n\n**Final Answer**\n\\boxed{4}", "4"),  # a repeat counts once
        ("\\boxed{4} \\boxed{4}", "4"),
        # intermediate boxes: prose between them
        ("so $t = \\boxed{12}$, hence the total is $\\boxed{36}$", "36"),
        ("we get \\boxed{2}. Wait, that is wrong, so \\boxed{4}", "4"),
        ("\\boxed{\\boxed{4}}", "4"),
        ("38-23=15. \\boxed{\\boxed{3}", "3"),  # the tiny model's nested box: the inner one closes
    ],
)
def test_several_boxes(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\boxed{255} is the subtotal.\n\nThe final answer is $10,455$.", "10,455"),
        ("$t=\\boxed{7}$ first.\n\n**Answer:** 12", "12"),
        ("\\boxed{4}. I hope the answer is correct.", "4"),  # not math: the box stands
        ("\\boxed{4}. The answer is correct because $4^4 = 256$.", "4"),
        ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}"),
        ("The final answer is: $\\boxed{5}$", "5"),
        ("**Final Answer:**\n$7$", "7"),
        ("The answer is 4 because $4^4 = 2^8$.", "4"),
        ("We may check our answer: $17 \\cdot 44 = 748$. So it is 44.", "44"),  # "answer:" opens no line
    ],
)
def test_final_answer_phrases(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the smallest value is $\\frac{11}{2}$.", "\\frac{11}{2}"),
        ("hence $x = 8/2 = 4$.", "4"),  # a chain gives its last member
        ("we conclude $x = 4$.", "x = 4"),
        ("$2^8 = 4^x$ means $x$ is 4.", "4"),  # a number after the last $..$ ends later
        ("the point is \\(\\left( 3, \\frac{\\pi}{2} \\right)\\).", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ],
)
def test_answers_in_dollars_without_a_box(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{3} then we add 9 and get \\boxed{12",
        "\\boxed{3} and finally \\boxed{}",
        "so the answer is \\boxed{",
        "\\boxed",
    ],
)
def test_a_cut_off_or_empty_final_box_is_unparseable(text: str) -> None:
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12+7=19. \\boxed{19}\\boxed{19}\\boxed{1", "19"),  # a repetition cut short: nothing lost
        ("50-25=25. \\boxed{25}\\boxed{}", "25"),
        ("86+90=176. 176+6=51. \\boxed{", "51"),  # no complete box: the usual fallbacks
        ("-2+23=21. \\boxed{20} \\boxed{21}", "21"),  # whitespace alone: a correction, not parts
    ],
)
def test_odd_endings_of_a_tiny_model_read_as_before(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


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
        ("10,455", "10455"),
        ("0,111", "0.111"),  # a decimal comma, as latex2sympy reads it
        ("32, 349", "32, 349"),  # two numbers
        ("1, 2", "1,2"),
        ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
        ("28 percent", "28\\%"),
        ("28 pct", "28\\%"),
        ("\\boxed{28 percentage}", "28\\%"),
        ("12.5\\text{ percent}", "12.5\\%"),
        ("28.0\\%", "28\\%"),
        ("0.\\overline{3}", "1/3"),
        ("0.1\\overline{6}", "1/6"),
        ("\\text{Even}", "even"),
    ],
)
def test_normalize_answer(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


def test_normal_form_is_idempotent_on_math500_answers() -> None:
    for row in _rows("math500"):
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
    ("28\\%", "28 percent"),
    ("28\\%", "0.28"),
    ("0,111", "0.111"),
    ("10,455", "10455"),
    ("32, 349", "349, 32"),
    ("\\text{Even}", "even"),
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
    ("0,111", "111"),
    ("32, 349", "32349"),
    ("12.5\\%", "12.5"),
    ("(-1, 6)", "[-1, 6]"),
    ("0", "a+3z=0"),  # math-verify accepts the second for the first only
    ("x \\in [-2,7]", "-2 \\le x \\le 7"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_forms(a: str, b: str) -> None:
    assert answers_equivalent(a, b)
    assert answers_equivalent(b, a)


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_different_answers(a: str, b: str) -> None:
    assert not answers_equivalent(a, b)
    assert not answers_equivalent(b, a)


def test_grade_follows_the_gold_and_names_its_tier() -> None:
    assert grade("0.5", "\\frac12") == Grade(True, "normal_form")
    assert grade("\\sqrt{20}", "2\\sqrt{5}") == Grade(True, "numeric")
    assert grade("143", "142") == Grade(False, "numeric")
    assert grade("0", "a+3z=0") == Grade(False, "math_verify")  # gold is an equation: its rhs is not it
    assert grade("a+3z=0", "0") == Grade(True, "math_verify")  # math-verify unwraps a predicted equation
    assert grade("(0,1)", "0<f(x)<1") == Grade(True, "math_verify")
    assert grade("0<f(x)<1", "(0,1)") == Grade(False, "math_verify")  # interval notation was asked for
    assert grade(None, "1") == Grade(False, "unparsed")
    assert grade("  ", "1") == Grade(False, "unparsed")
    assert grade("9^{9^{9^{9}}}", "1") == Grade(False, "guard")
    assert set(answers.TIERS) >= {grade(p, "1").tier for p in ["1", "2", None, "x"]}


def test_the_vote_needs_both_orders() -> None:
    """A prediction pair is one answer only when each is correct with the other as gold."""
    for a, b in [("0", "a+3z=0"), ("(0,1)", "0<f(x)<1"), ("\\{1,2\\}", "(2,1)")]:
        assert grade(a, b).correct != grade(b, a).correct
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
    assert answers._grade_keys.cache_info().currsize == 2  # both orders
    answers_equivalent("\\tan x", "\\frac{\\sin x}{\\cos x}")  # the other order hits the same entries
    grade("\\tan x", "\\frac{\\sin x}{\\cos x}")
    assert answers._grade_keys.cache_info().hits == 3
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
    golds = sorted({normalize_answer(row["answer"]) for row in _rows("math500")})[::10]
    variants = [(a, b) for a, b in EQUIVALENT + NOT_EQUIVALENT]
    return list(itertools.combinations(golds, 2)) + variants


def test_cheap_verdicts_agree_with_math_verify() -> None:
    """Wherever the numeric signatures decide, math-verify decides the same, in both orders."""
    clear_caches()
    decided = 0
    for a, b in _agreement_pairs():
        key_a, key_b = normalize_answer(a), normalize_answer(b)
        if key_a == key_b:
            continue
        verdict = cheap_verdict(key_a, key_b)
        assert verdict == cheap_verdict(key_b, key_a), (key_a, key_b)
        if verdict is not None:
            decided += 1
            assert verdict == answers._math_verify_equal(key_a, key_b), (key_a, key_b, verdict)
            assert verdict == answers._math_verify_equal(key_b, key_a), (key_b, key_a, verdict)
    assert decided > 400


# -------------------------------------------------------------------------------------------- benchmark data


def test_math500_solutions_box_the_gold_answer() -> None:
    rows = _rows("math500")
    misses = [
        (row["id"], extract_answer(row["solution"]), row["answer"])
        for row in rows
        if not grade(extract_answer(row["solution"]), row["answer"]).correct
    ]
    print(f"math500 misses: {len(misses)}/{len(rows)}: {misses}")
    assert len(misses) <= 0.01 * len(rows), misses


def test_amc23_float_answers_equal_their_integers() -> None:
    rows = _rows("amc23")
    assert len(rows) == 83
    for row in rows:
        as_int = str(int(float(row["answer"])))
        assert answers_equivalent(row["answer"], as_int)
        assert not answers_equivalent(row["answer"], str(int(as_int) + 1))


def test_aime24_answers_with_leading_zeros() -> None:
    for row in _rows("aime24"):
        assert grade(str(int(row["answer"])), row["answer"]) == Grade(True, "normal_form")


@pytest.mark.parametrize("module", [answers, extraction])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0


def test_importing_the_vote_stays_light() -> None:
    code = (
        "import sys, cuma_lite.voting, cuma_lite.answers;"
        "heavy = {'math_verify', 'sympy', 'torch', 'trl', 'transformers', 'vllm'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
