"""Synthetic generators: answers re-derived independently, every chain-of-thought step checked, determinism."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from cuma_lite.data.synthetic import TASKS, generate, list_tasks

LEVELS = [1, 2, 3, 4, 5]
BOXED = re.compile(r"(.*) \\boxed\{(-?\d+)\}")


def split_solution(item: dict) -> list[str]:
    """The solution's steps (without their final period); asserts it ends in ``\\boxed{answer}``."""
    m = BOXED.fullmatch(item["solution"])
    assert m, item["solution"]
    assert m.group(2) == item["answer"]
    steps = m.group(1).split(" ")
    assert all(s.endswith(".") for s in steps), steps
    return [s[:-1] for s in steps]


# ---- arithmetic -----------------------------------------------------------------------------------------------

PROBLEM = re.compile(r"Compute (\d+)((?:[+-]\d+)+)\.")
STEP = re.compile(r"(-?\d+)([+-])(\d+)=(-?\d+)")


def apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b


@pytest.fixture(scope="module")
def arithmetic() -> list[dict]:
    return generate("arithmetic", LEVELS, 200, seed=0)


def test_arithmetic_answers_recomputed_from_the_problem_text(arithmetic):
    for item in arithmetic:
        m = PROBLEM.fullmatch(item["problem"])
        assert m, item["problem"]
        ops = re.findall(r"([+-])(\d+)", m.group(2))
        total = int(m.group(1))
        for op, b in ops:
            total = apply(total, op, int(b))
        assert item["answer"] == str(total)
        assert len(ops) == item["difficulty"]  # level L = L operations = L+1 operands
        assert all(1 <= int(t) <= 49 for t in re.findall(r"\d+", item["problem"]))


def test_arithmetic_every_step_is_right_and_follows_the_problem(arithmetic):
    for item in arithmetic:
        m = PROBLEM.fullmatch(item["problem"])
        ops = re.findall(r"([+-])(\d+)", m.group(2))
        steps = split_solution(item)
        assert len(steps) == item["difficulty"]
        running = int(m.group(1))
        for step, (op, b) in zip(steps, ops, strict=True):
            s = STEP.fullmatch(step)
            assert s, step
            a, sop, sb, c = int(s.group(1)), s.group(2), int(s.group(3)), int(s.group(4))
            assert (a, sop, sb) == (running, op, int(b))  # a left-to-right running total
            assert apply(a, sop, sb) == c
            running = c
        assert str(running) == item["answer"]


def test_arithmetic_hand_example():
    # A fixed rng gives fixed text; check the format against a hand evaluation of whatever it drew.
    problem, answer, solution = TASKS["arithmetic"].generate(2, random.Random(7))
    a, op1, b, op2, c = re.fullmatch(r"Compute (\d+)([+-])(\d+)([+-])(\d+)\.", problem).groups()
    mid = apply(int(a), op1, int(b))
    assert solution == f"{a}{op1}{b}={mid}. {mid}{op2}{c}={apply(mid, op2, int(c))}. \\boxed{{{answer}}}"


# ---- linear ---------------------------------------------------------------------------------------------------


class Expr:
    """A tiny recursive-descent evaluator for ``3(x+2)+1``-style expressions at a given x."""

    def __init__(self, text: str) -> None:
        self.tokens = re.findall(r"\d+|[x()+-]", text)
        assert "".join(self.tokens) == text, f"unexpected characters in {text!r}"
        self.pos = 0

    def value(self, x: Fraction) -> Fraction:
        self.pos, self.x = 0, x
        v = self._sum()
        assert self.pos == len(self.tokens), "trailing tokens"
        return v

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _sum(self) -> Fraction:
        v = self._term()
        while self._peek() in ("+", "-"):
            v = v + self._term() if self._next() == "+" else v - self._term()
        return v

    def _term(self) -> Fraction:
        if self._peek() == "-":
            self._next()
            return -self._term()
        coef = Fraction(int(self._next())) if self._peek().isdigit() else None
        if self._peek() == "x":
            self._next()
            return (coef if coef is not None else 1) * self.x
        if self._peek() == "(":
            self._next()
            inner = self._sum()
            assert self._next() == ")"
            return (coef if coef is not None else 1) * inner
        assert coef is not None, "expected a number, x or ("
        return coef


def residual(equation: str, x: int) -> Fraction:
    lhs, rhs = equation.split("=")
    return Expr(lhs).value(Fraction(x)) - Expr(rhs).value(Fraction(x))


def assert_unique_solution(equation: str, x: int) -> None:
    """``equation`` is linear in x and holds exactly at ``x``: the residual is 0 there and not 0 at x+1."""
    assert residual(equation, x) == 0, f"{equation} does not hold at x={x}"
    assert residual(equation, x + 1) != 0, f"{equation} does not pin x down"


SHAPES = {  # the problem's shape at each level
    1: r"x[+-]\d+=-?\d+",
    2: r"\d+x[+-]\d+=-?\d+",
    3: r"\d*x[+-]\d+=\d*x([+-]\d+)?",
    4: r"\d+\(x[+-]\d+\)[+-]\d+=\d*x([+-]\d+)?",
    5: r"\d+\(x[+-]\d+\)[+-]\d+=\d+\(x[+-]\d+\)([+-]\d+)?",
}


@pytest.fixture(scope="module")
def linear() -> list[dict]:
    return generate("linear", LEVELS, 200, seed=0)


def test_linear_answer_solves_the_problem(linear):
    for item in linear:
        m = re.fullmatch(r"Solve (.+)\.", item["problem"])
        assert m, item["problem"]
        assert re.fullmatch(SHAPES[item["difficulty"]], m.group(1)), item["problem"]
        assert_unique_solution(m.group(1), int(item["answer"]))


def test_linear_steps_are_equivalent_equations_one_per_level(linear):
    for item in linear:
        x = int(item["answer"])
        problem = item["problem"][len("Solve ") : -1]
        steps = split_solution(item)
        assert len(steps) == item["difficulty"], item
        assert steps[-1] == f"x={x}"
        previous = problem
        for step in steps:
            assert step != previous, f"no-op step in {item}"
            assert_unique_solution(step, x)
            previous = step
        if item["difficulty"] >= 2:  # the divide step starts from k*x with k >= 2
            assert re.fullmatch(r"([2-9])x=-?\d+", steps[-2]), steps


def test_linear_hand_examples():
    assert residual("3(x+2)+1=x+17", 5) == 0
    assert residual("4(x+2)+1=2(x+5)+9", 5) == 0
    assert residual("3x+7=x+15", 4) == 0
    assert residual("x-7=3", 10) == 0
    assert residual("-x+2=0", 2) == 0
    assert residual("3x+7=22", 4) == -3  # the evaluator itself: 19 - 22


# ---- both tasks -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["arithmetic", "linear"])
def test_items_have_the_schema_unique_ids_and_ascii(task):
    items = generate(task, LEVELS, 50, seed=3)
    assert len(items) == 250
    prefix = TASKS[task].id_prefix
    for item in items:
        assert set(item) == {"id", "problem", "answer", "difficulty", "solution"}
        assert re.fullmatch(rf"{prefix}-L{item['difficulty']}-\d{{6}}", item["id"])
        assert all(
            isinstance(item[k], str) and item[k].isascii() for k in ("id", "problem", "answer", "solution")
        )
        assert isinstance(item["difficulty"], int)
    assert len({i["id"] for i in items}) == len(items)
    assert len({i["problem"] for i in items}) == len(items)
    assert [i["id"] for i in items[:2]] == [f"{prefix}-L1-000000", f"{prefix}-L1-000001"]


@pytest.mark.parametrize("task", ["arithmetic", "linear"])
def test_determinism(task):
    assert generate(task, LEVELS, 30, seed=1) == generate(task, LEVELS, 30, seed=1)
    assert generate(task, LEVELS, 30, seed=1) != generate(task, LEVELS, 30, seed=2)


def test_levels_are_independent_of_which_other_levels_are_asked_for():
    alone = generate("linear", [3], 20, seed=5)
    together = [i for i in generate("linear", [1, 2, 3, 4], 20, seed=5) if i["difficulty"] == 3]
    assert alone == together


def test_exclude_makes_a_disjoint_held_out_set():
    train = generate("arithmetic", [1], 500, seed=0)
    held_out = generate("arithmetic", [1], 500, seed=1, exclude={i["problem"] for i in train})
    assert not {i["problem"] for i in train} & {i["problem"] for i in held_out}
    assert len(held_out) == 500


def test_list_tasks_and_registry():
    assert list_tasks() == ["arithmetic", "fractions", "linear", "modular"]
    for task in TASKS.values():
        assert task.levels == (1, 2, 3, 4, 5)
        assert task.description
    with pytest.raises(ValueError, match="level 9"):
        TASKS["linear"].generate(9, random.Random(0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("geometry", [1], 5),
            "unknown synthetic task 'geometry'; choose one of arithmetic, fractions, linear, modular",
        ),
        (("arithmetic", [0, 6], 5), r"\[0, 6\] are not among them"),
        (("arithmetic", [], 5), "no levels"),
        (("arithmetic", [1, 1], 5), "repeat a level"),
        (("arithmetic", [1], 0), "per_level=0"),
        (("linear", [1], 5000), "ran out of distinct problems"),  # x+b=c has only 21 * 40 problems
    ],
)
def test_bad_requests_say_what_to_do(args, message):
    with pytest.raises(ValueError, match=message):
        generate(*args, seed=0)


# ---- fractions and modular: answers re-derived from the problem text ------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_fractions_answers_recomputed(level):
    from cuma_lite.data.synthetic import FRACTION_DENOMINATORS

    for item in generate("fractions", [level], 50, seed=1):
        m = re.fullmatch(r"Compute (\d+/\d+)((?:[+-]\d+/\d+)+)\.", item["problem"])
        assert m, item["problem"]
        terms = [(op, Fraction(t)) for op, t in re.findall(r"([+-])(\d+/\d+)", m.group(2))]
        assert len(terms) == level
        total = Fraction(m.group(1))
        for op, t in terms:
            total = total + t if op == "+" else total - t
        assert Fraction(item["answer"]) == total
        assert item["answer"] == (
            str(total.numerator) if total.denominator == 1 else f"{total.numerator}/{total.denominator}"
        )
        dens = [int(d) for d in re.findall(r"/(\d+)", item["problem"])]
        assert all(2 <= d <= FRACTION_DENOMINATORS[level - 1] for d in dens)
        assert item["solution"].endswith(f"\\boxed{{{item['answer']}}}")
        assert len(re.findall(r"=", item["solution"])) == level  # one step per operation


@pytest.mark.parametrize("level", LEVELS)
def test_modular_answers_recomputed(level):
    from cuma_lite.data.synthetic import MODULI

    for item in generate("modular", [level], 50, seed=2):
        m = re.fullmatch(
            r"Compute (\d+)((?:[+*]\d+)+) mod (\d+), applying the operations left to right\.", item["problem"]
        )
        assert m, item["problem"]
        mod = int(m.group(3))
        assert mod in MODULI[level - 1]
        ops = re.findall(r"([+*])(\d+)", m.group(2))
        assert len(ops) == level
        total = int(m.group(1))
        for op, b in ops:
            total = total + int(b) if op == "+" else total * int(b)
        assert item["answer"] == str(total % mod)
        assert item["solution"].endswith(f"\\boxed{{{item['answer']}}}")


def test_reasoning_gym_families_are_graded_and_deterministic():
    pytest.importorskip("reasoning_gym")
    from cuma_lite.data.families import generate_family, list_families

    assert {"fractions", "modular", "rg:chain_sum", "rg:gcd"} <= {name for name, _, _ in list_families()}
    a = generate_family("rg:chain_sum", [1, 5], 5, seed=0)
    assert a == generate_family("rg:chain_sum", [1, 5], 5, seed=0)
    for item in a:
        numbers = re.findall(r"\d+", item["problem"].split(":")[-1])
        assert len(numbers) == item["difficulty"] + 1  # level L: L+1 terms
        expr = item["problem"].split(":")[-1].rstrip("= ")
        assert str(eval(expr)) == item["answer"]  # the gold answer, recomputed
    gcd = generate_family("rg:gcd", [2], 5, seed=0)
    for item in gcd:
        from functools import reduce
        from math import gcd as g

        numbers = [int(n) for n in re.findall(r"\d+", item["problem"].split(":")[1].split(".")[0])]
        assert str(reduce(g, numbers)) == item["answer"] and max(numbers) <= 100
