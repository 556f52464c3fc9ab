"""Tier 2 of the answer equivalence test: numeric signatures, which settle most pairs without sympy.

:func:`cuma_lite.answers.answers_equivalent` decides in three tiers, cheapest first: equal normal forms, then
this module, then math-verify (see :mod:`cuma_lite.answers`). Everything here is pure standard library; it never
calls math-verify, but its verdicts are built to agree with math-verify's.

An answer built from numbers, letters, ``\\frac``, ``\\sqrt``, ``\\pi``, ``e``, ``i``, ``\\pm``, a few
functions and ``+-*/^`` (or a tuple, set, interval, union, matrix or assignment ``x=...`` of such) is evaluated
at three fixed points (its :func:`signature`), each letter standing for a fixed number per point, ``e`` for
Euler's number and ``i`` for the imaginary unit.

* Values that clearly differ somewhere mean *different*, for math-verify too. Two answers whose values differ at
  some point are not identical functions, and each of math-verify's rules (structural, numeric to 6 decimals,
  symbolic ``simplify(a - b) == 0``, elementwise for tuples, sets, intervals and matrices, solving for
  relations) implies equal values everywhere; so differing values settle "different" without sympy. (Should
  latex2sympy read ``e`` or ``i`` as a plain symbol instead, an identity in that symbol still implies equal
  values at our point.) Where this reader and latex2sympy might read a string differently (``2^10``,
  ``\\frac123``, ``2 3``, ``\\sin x y``, ``\\log``), it refuses and leaves the pair to math-verify.
* Values equal to 12 digits everywhere mean *same*, but only where that is proof and math-verify agrees:
  letter-free expressions and rational functions of letters (no ``\\sqrt{x^2}``, no ``e`` or ``i``, which
  latex2sympy reads as symbols in some spellings), magnitudes below 1e6, no cancellation. A pair this close
  yet different (``1`` vs ``1+10^{-15}``) is the one deliberate deviation from math-verify.
* Two rules mirror math-verify's own reading rather than values: a percent ``28\\%`` equals 0.28, and 28 too
  when both are written as integers (:func:`_percent_verdict`); a bracketed pair is an interval when it
  increases and a tuple when it decreases, so brackets matter (:func:`_pairs_read_apart`, :func:`_tuple_and_list`).

Every verdict here must hold for math-verify in *both* orders (``verify(a, b)`` and ``verify(b, a)``), since
:func:`cuma_lite.answers.grade` asks in the gold's order and the vote in both; pairs where math-verify's
answer depends on the order (an equation against its right-hand side, a set against a tuple) get None.

Entry points: :func:`cheap_verdict` (two normal forms: True, False, or None for "ask math-verify"),
:func:`signature` (cached; its ``overflow`` flags a value too big to hand to sympy) and :func:`plain_number`
(the exact value of a plain number, which the normal form uses too).
"""

from __future__ import annotations

import cmath
import functools
import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, NamedTuple

_CACHE_SIZE = 1 << 16
"""Entries per ``functools.lru_cache``, as in :mod:`cuma_lite.answers`."""
_MAX_NUMBER_CHARS = 200
"""Longer digit strings are not treated as plain numbers (int() of huge strings is slow and capped)."""
_REL_TOL = 1e-9
_ABS_TOL = 2e-6
"""math-verify rounds floats to 6 decimals; values further apart than this can never round to the same."""

_NUM = r"(?:\d+\.?\d*|\.\d+)"
_PLAIN_NUMBER = re.compile(rf"^[+-]?{_NUM}$")
_SLASH_FRACTION = re.compile(rf"^(?P<sign>[+-]?)(?P<num>{_NUM})/(?P<den>{_NUM})$")
_LATEX_FRACTION = re.compile(rf"^(?P<sign>[+-]?)\\frac\{{(?P<num>[+-]?{_NUM})\}}\{{(?P<den>[+-]?{_NUM})\}}$")
_PERCENT_NUMBER = re.compile(rf"^[+-]?{_NUM}\\%$")  # 28\%: the normal form of any percent
_MIXED_NUMBER = re.compile(
    r"^(?P<sign>[+-]?)(?P<whole>\d+)\\frac\{(?P<num>\d+)\}\{(?P<den>\d+)\}$"
)  # 1\frac{4}{5}

_POINTS = 3
_FUNCTIONS: dict[str, Any] = {
    "\\sin": cmath.sin,
    "\\cos": cmath.cos,
    "\\tan": cmath.tan,
    "\\cot": lambda z: 1 / cmath.tan(z),
    "\\sec": lambda z: 1 / cmath.cos(z),
    "\\csc": lambda z: 1 / cmath.sin(z),
    "\\ln": cmath.log,
}
_MATRICES = ("pmatrix", "bmatrix", "matrix")
_INTERVALS = ("()", "[]", "(]", "[)")  # also the brackets of tuples and lists
_TOKEN = re.compile(
    r"\d+(?:\.\d+)?|\.\d+|\\begin\{[a-z]+\}|\\end\{[a-z]+\}|\\\\|\\[a-zA-Z]+|\\\{|\\\}|[-+*/^(){}\[\],&a-zA-Z ]"
)
_OPEN, _CLOSE = ("(", "[", "{", "\\{"), (")", "]", "}", "\\}")
_TERMINATORS = (None, "+", "-", ")", "}", "]", ",", "\\}", "\\\\", "&")
_BASE_NUMBER = re.compile(r"^(\d+)_(?:\d|\{\d+\})$")  # 4343_6: math-verify reads it as 4343
_RELATION = re.compile(r"^([^=]+?)(=|\\in(?![a-zA-Z]))([^=]+)$")
_CONSTANT_LETTERS = frozenset("eEiI")  # never the variable of an assignment


# ----------------------------------------------------------------------------------------------- entry points


def plain_number(s: str) -> Fraction | None:
    """Exact value of an integer, decimal, ``a/b``, ``\\frac{a}{b}`` or ``1\\frac{4}{5}``; None for anything else."""
    if len(s) > _MAX_NUMBER_CHARS:
        return None
    try:
        if _PLAIN_NUMBER.match(s):
            return Fraction(s)
        match = _SLASH_FRACTION.match(s) or _LATEX_FRACTION.match(s) or _MIXED_NUMBER.match(s)
        if match is None:
            return None
        value = Fraction(match["num"]) / Fraction(match["den"])
        if "whole" in match.groupdict():
            value += int(match["whole"])  # a mixed number, as latex2sympy reads it: -1\frac12 is -3/2
        return -value if match["sign"] == "-" else value
    except (ValueError, ZeroDivisionError):
        return None


@dataclass(frozen=True)
class Signature:
    """An answer's values at the evaluation points: a scalar, a list of items, a matrix or a union."""

    kind: str
    """``"scalar"``, ``"matrix"``, ``"union"``, or a list's brackets: ``"()"``, ``"[)"``, ``"{}"`` (a set),
    ``","`` (bare)."""
    items: tuple[tuple[complex, ...], ...] = ()
    """One value per evaluation point, per item (per cell for a matrix, per endpoint for a union)."""
    number: Fraction | None = None
    """The exact value of a plain number (or of the plain number right of ``x=``)."""
    exact: bool = False
    """A plain number written without a decimal point: compared exactly, not to math-verify's 6 decimals."""
    letters: frozenset[str] = frozenset()
    """The letters it uses, lower-cased (``e`` and ``i`` included), but ``E`` (a symbol, not Euler's e) kept."""
    symbolic_i: tuple[complex, ...] | None = None
    """For a scalar with ``i``: its values with ``i`` read as a variable (see :func:`_values_same`)."""
    loose: bool = False
    """A letter under a root, a function or a symbolic exponent (``\\sqrt{x^2}``): equal values at our
    positive points do not make an identity there."""
    assigned: str = ""
    """``x`` for an assignment ``x=...`` or ``x\\in...``: the signature is its right-hand side's, which
    math-verify compares with a non-equation."""
    equation: bool = False
    """Another equation ``lhs=rhs``: the signature is its right-hand side's (math-verify unwraps it too)."""
    brackets: tuple[str, ...] = ()
    """A union's intervals' brackets, ``"(]"``..., in the order of :attr:`items`' endpoint pairs."""
    shape: tuple[int, int] = (1, 1)
    scale: float = 0.0
    """Largest magnitude met while evaluating: floating-point cancellation is relative to it."""
    collapses: bool = False
    """Has duplicate items, so it may be a one-element set (``{1, 1}``, ``[1, 1]``): equal to a scalar."""
    maybe_empty: bool = False
    """A half-open interval with start >= end is the empty set, and all empty sets are equal."""
    percent: bool = False
    """A plain number with a percent sign: :attr:`number` is its value, a hundredth of the written number."""
    overflow: bool = False


@functools.lru_cache(maxsize=_CACHE_SIZE)
def signature(key: str) -> Signature | None:
    """The cheap signature of a normal form, or None when it is outside the tiny grammar."""
    try:
        return _read_key(key)
    except _Overflow:
        return Signature("scalar", overflow=True)
    except (_Unsupported, ArithmeticError, ValueError):
        return None


def cheap_verdict(key_a: str, key_b: str) -> bool | None:
    """True or False when the signatures settle the pair; None means "ask math-verify"."""
    a, b = signature(key_a), signature(key_b)
    if a is None or b is None or a.overflow or b.overflow:
        return None
    if a.percent or b.percent:
        return _percent_verdict(a, b)
    if (a.assigned or a.equation) and (b.assigned or b.equation):
        if a.equation or b.equation or not _assignments_comparable(a, b):
            return None
        if a.assigned != b.assigned:
            return False
    elif a.equation or b.equation:
        # math-verify compares the equation's right-hand side with the other answer, or says no
        return False if _values_differ(a, b) else None
    if a.number is not None and b.number is not None:
        # equal plain numbers (math-verify also unwraps x=5 against 5); distinct exact ones differ
        if a.number == b.number:
            return True
        if a.exact and b.exact:
            return False
    if _values_differ(a, b):
        return False
    return True if _values_same(a, b) else None


# ---------------------------------------------------------------------------------------- reading a signature


def _read_key(key: str) -> Signature | None:
    plain = plain_number(key)
    if plain is not None:
        value = complex(plain)
        return Signature("scalar", ((value,) * _POINTS,), plain, "." not in key, scale=abs(value))
    if _PERCENT_NUMBER.match(key):
        share = Fraction(key[:-2]) / 100
        value = complex(share)
        return Signature(
            "scalar", ((value,) * _POINTS,), share, "." not in key, percent=True, scale=abs(value)
        )
    relation = _RELATION.match(key)
    if relation:
        return _relation_signature(*relation.groups())
    base = _BASE_NUMBER.match(key)
    if base:
        value = complex(int(base.group(1)))
        return Signature("scalar", ((value,) * _POINTS,), scale=abs(value))
    tokens = _tokenize(key)
    return _read(tokens) if tokens else None


def _relation_signature(lhs: str, operator: str, rhs: str) -> Signature | None:
    """``x=5``, ``x\\in[1,2]`` (assignments) and ``2x+y=0`` (equations), as their right-hand side."""
    value = signature(rhs)
    if value is None or value.overflow or value.assigned or value.equation or value.percent:
        return None
    if len(lhs) == 1 and lhs.isalpha() and lhs not in _CONSTANT_LETTERS:
        if operator == "=" and value.kind != "scalar":
            return None  # x=1,2 and x=\pm 3: latex2sympy's reading is unclear
        return replace(value, assigned=lhs.lower())
    if operator != "=" or value.kind != "scalar" or _tokenize(lhs) is None:
        return None
    return replace(value, equation=True, number=None)


def _tokenize(key: str) -> list[str] | None:
    tokens = _TOKEN.findall(key)
    return [t for t in tokens if t != " "] if sum(map(len, tokens)) == len(key) else None


def _read(tokens: list[str]) -> Signature:
    """A matrix, a union of intervals, a (bracketed or bare) list, a ``\\pm`` pair, or a scalar."""
    if tokens[0].startswith("\\begin{"):
        return _read_matrix(tokens)
    parts = _split_top_level(tokens, "\\cup")
    if len(parts) > 1:
        return _read_union(parts)
    items = _split_top_level(tokens, ",")
    if len(items) > 1:
        return _list_signature(",", items)
    if tokens[0] in ("(", "[", "\\{") and _closing_index(tokens, 0) == len(tokens) - 1:
        inner = _split_top_level(tokens[1:-1], ",")
        if len(inner) > 1 or tokens[0] == "\\{":
            return _list_signature("{}" if tokens[0] == "\\{" else tokens[0] + tokens[-1], inner)
    if "\\pm" in tokens:
        return _list_signature("{}", [tokens])  # 3 \pm 2\sqrt{2} is the set of both
    evaluated = _evaluate(tokens)
    return Signature("scalar", (evaluated.values,), symbolic_i=evaluated.symbolic_i, **_summary([evaluated]))


def _list_signature(kind: str, items: list[list[str]]) -> Signature:
    if kind in ("{}", ","):
        items = [expanded for item in items for expanded in _expand_plus_minus(item)]
    evaluated = [_evaluate_item(item) for item in items]
    values, summary = tuple(e.values for e in evaluated), _summary(evaluated)
    # latex2sympy reads (2,1) and [2,1] as tuples, but (2,1] as the empty set
    empty = kind in ("(]", "[)") and len(values) == 2 and not _ordered(*values)
    duplicates = _has_duplicates(values, summary["scale"])
    return Signature(kind, values, collapses=duplicates, maybe_empty=empty, **summary)


def _expand_plus_minus(item: list[str]) -> list[list[str]]:
    """``1\\pm\\sqrt{5}`` is two set elements, as math-verify reads it."""
    count = item.count("\\pm")
    if count == 0:
        return [item]
    if count > 1:
        raise _Unsupported
    return [["+" if t == "\\pm" else t for t in item], ["-" if t == "\\pm" else t for t in item]]


def _read_union(parts: list[list[str]]) -> Signature:
    intervals = [_read(part) for part in parts]
    if any(i.kind not in _INTERVALS or len(i.items) != 2 or i.collapses or i.maybe_empty for i in intervals):
        raise _Unsupported  # only unions of proper intervals
    endpoints = tuple(end for interval in intervals for end in interval.items)
    summary = _summary([_Evaluated((), i.scale, i.letters, i.loose) for i in intervals])
    return Signature("union", endpoints, brackets=tuple(i.kind for i in intervals), **summary)


def _read_matrix(tokens: list[str]) -> Signature:
    environment = tokens[0][len("\\begin{") : -1]
    if environment not in _MATRICES or tokens[-1] != f"\\end{{{environment}}}":
        raise _Unsupported  # vmatrix is a determinant; nested environments are out of scope
    rows = [row for row in _split_top_level(tokens[1:-1], "\\\\", allow_empty=True) if row]
    cells = [_split_top_level(row, "&") for row in rows]
    if not cells or len({len(row) for row in cells}) != 1:
        raise _Unsupported
    evaluated = [_evaluate(cell) for row in cells for cell in row]
    values, shape = tuple(e.values for e in evaluated), (len(cells), len(cells[0]))
    return Signature("matrix", values, shape=shape, **_summary(evaluated))


def _split_top_level(tokens: list[str], separator: str, allow_empty: bool = False) -> list[list[str]]:
    items: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += (token in _OPEN) - (token in _CLOSE)
        if token == separator and depth == 0:
            items.append([])
        else:
            items[-1].append(token)
    if depth != 0 or (not allow_empty and any(not item for item in items)):
        raise _Unsupported
    return items


def _closing_index(tokens: list[str], start: int) -> int:
    depth = 0
    for index in range(start, len(tokens)):
        depth += (tokens[index] in _OPEN) - (tokens[index] in _CLOSE)
        if depth == 0:
            return index
    return -1


class _Evaluated(NamedTuple):
    values: tuple[complex, ...]
    """At each evaluation point."""
    scale: float
    """The largest magnitude met on the way."""
    letters: frozenset[str]
    loose: bool
    symbolic_i: tuple[complex, ...] | None = None
    """The values with ``i`` read as a variable, when ``i`` occurs (None when that reading fails)."""


def _summary(evaluated: list[_Evaluated]) -> dict[str, Any]:
    """The :class:`Signature` fields that several evaluated items share."""
    return {
        "scale": max(e.scale for e in evaluated),
        "letters": frozenset().union(*(e.letters for e in evaluated)),
        "loose": any(e.loose for e in evaluated),
    }


def _evaluate_item(tokens: list[str]) -> _Evaluated:
    """A list item: an expression, or an interval's infinite endpoint."""
    if tokens in (["\\infty"], ["+", "\\infty"], ["-", "\\infty"]):
        infinity = complex(-math.inf if tokens[0] == "-" else math.inf)
        return _Evaluated((infinity,) * _POINTS, 0.0, frozenset(), False)
    return _evaluate(tokens)


def _evaluate(tokens: list[str], symbolic_i: bool = False) -> _Evaluated:
    values, scale = [], 0.0
    for point in range(_POINTS):
        evaluator = _Evaluator(tokens, point, symbolic_i)
        value = evaluator.expression()
        if evaluator.position != len(tokens) or not cmath.isfinite(value):
            raise _Unsupported
        values.append(value)
        scale = max(scale, evaluator.scale)
    evaluated = _Evaluated(tuple(values), scale, frozenset(evaluator.letters), evaluator.loose)
    if "i" in evaluated.letters and not symbolic_i:
        try:
            return evaluated._replace(symbolic_i=_evaluate(tokens, symbolic_i=True).values)
        except (_Unsupported, _Overflow, ArithmeticError, ValueError):
            pass
    return evaluated


def _letter_value(letter: str, point: int, symbolic_i: bool = False) -> complex:
    """``e``, ``i``, or a fixed 'random' value in [1.25, 2.75) per letter and point; case-blind like math-verify.

    With ``symbolic_i``, ``i`` is a variable like any other letter (latex2sympy's reading of ``2i^2``).
    """
    letter = letter.lower()
    if letter == "e" or (letter == "i" and not symbolic_i):
        return complex(math.e) if letter == "e" else 1j
    spread = (ord(letter) * 0.6180339887498949 + point * 0.41421356237309503) % 1.0
    return complex(1.25 + 1.5 * spread)


class _Unsupported(Exception):
    """The answer is outside the tiny grammar: leave it to math-verify."""


class _Overflow(Exception):
    """The answer's value does not fit a float: too big to hand to sympy safely."""


class _Evaluator:
    """Recursive descent over a normal form's tokens at one evaluation point; anything doubtful is refused.

    Deliberately strict where LaTeX and latex2sympy disagree (``2^10``, ``\\frac123``, ``1\\frac12`` (a mixed
    number), ``2 3``, ``\\sin x y``): those raise :class:`_Unsupported` instead of guessing.
    """

    def __init__(self, tokens: list[str], point: int, symbolic_i: bool = False) -> None:
        self.tokens = tokens
        self.point = point
        self.symbolic_i = symbolic_i
        self.position = 0
        self.scale = 0.0
        self.letters: set[str] = set()
        self.letter_uses = 0
        self.loose = False

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Unsupported
        self.position += 1
        return token

    def expect(self, token: str) -> None:
        if self.take() != token:
            raise _Unsupported

    def seen(self, value: complex) -> complex:
        self.scale = max(self.scale, abs(value))
        return value

    def expression(self) -> complex:
        value = self.signed_term()
        while self.peek() in ("+", "-"):
            sign = 1 if self.take() == "+" else -1
            value = self.seen(value + sign * self.seen(self.signed_term()))
        return value

    def signed_term(self) -> complex:
        if self.peek() in ("+", "-"):
            return -self.term() if self.take() == "-" else self.term()
        return self.term()

    def term(self) -> complex:
        value, bare_number = self.power()
        while True:
            token = self.peek()
            if token in ("*", "\\cdot", "\\times", "/", "\\div"):
                self.take()
                factor, bare_number = self.power()
                value = value / factor if token in ("/", "\\div") else value * factor
            elif self.starts_implicit_factor(token, bare_number):
                factor, bare_number = self.power()  # implicit product: 2\sqrt{3}, 3\pi, 2x, x(1+i)
                value *= factor
            elif token is not None and (token[0].isdigit() or token[0] == "." or token == "\\frac"):
                raise _Unsupported  # "x 2", or a mixed number 1\frac12: latex2sympy's reading is not ours
            else:
                return self.seen(value)

    @staticmethod
    def starts_implicit_factor(token: str | None, after_bare_number: bool) -> bool:
        if token is None:
            return False
        if token == "\\frac":
            return not after_bare_number
        return (
            token in ("\\sqrt", "\\pi", "(") or token in _FUNCTIONS or (len(token) == 1 and token.isalpha())
        )

    def power(self) -> tuple[complex, bool]:
        """A factor with an optional exponent; also says whether it was a bare number."""
        is_number = (self.peek() or " ")[0].isdigit()
        uses_before = self.letter_uses
        base = self.atom()
        if self.peek() != "^":
            return base, is_number
        self.take()
        uses_in_base = self.letter_uses
        exponent = self.exponent()
        if self.peek() == "^":
            raise _Unsupported  # a^b^c: associativity differs between readers
        if self.letter_uses > uses_in_base or exponent != int(exponent.real):
            self.mark_loose_if_letters_since(uses_before)  # 2^x, x^{1/2}
        return self.seen(_power(base, exponent)), False

    def exponent(self) -> complex:
        token = self.take()
        if token == "{":
            value = self.expression()
            self.expect("}")
            return value
        if len(token) == 1 and token.isdigit():
            return complex(int(token))
        if len(token) == 1 and token.isalpha():
            return self.letter(token)
        raise _Unsupported  # 2^10 means 2^1 0 in LaTeX but 2^{10} to latex2sympy

    def atom(self) -> complex:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return self.seen(complex(float(token)))
        if len(token) == 1 and token.isalpha():
            return self.letter(token)
        if token == "\\pi":
            return complex(math.pi)
        if token == "\\frac":
            return self.group() / self.group()
        if token == "\\sqrt":
            return self.root()
        if token in _FUNCTIONS:
            uses_before = self.letter_uses
            value = self.seen(_FUNCTIONS[token](self.function_argument()))
            self.mark_loose_if_letters_since(uses_before)
            return value
        if token in ("(", "{"):
            value = self.expression()
            self.expect(")" if token == "(" else "}")
            return value
        raise _Unsupported

    def letter(self, token: str) -> complex:
        self.letters.add("E" if token == "E" else token.lower())  # E is a symbol to latex2sympy, e a constant
        self.letter_uses += 1
        return _letter_value(token, self.point, self.symbolic_i)

    def mark_loose_if_letters_since(self, uses_before: int) -> None:
        """A letter under a root or function: our positive points say nothing about sqrt(x^2) = x."""
        self.loose = self.loose or self.letter_uses > uses_before

    def group(self) -> complex:
        self.expect("{")
        value = self.expression()
        self.expect("}")
        return value

    def function_argument(self) -> complex:
        """``\\cot(x)``, ``\\cot{x}`` or ``\\cot x``; not ``\\sin^2 x`` nor ``\\sin x y`` (read as sin(xy))."""
        if self.peek() in ("(", "{"):
            return self.atom()
        argument, _ = self.power()
        if self.peek() not in _TERMINATORS:
            raise _Unsupported
        return argument

    def root(self) -> complex:
        index = complex(2)
        if self.peek() == "[":
            self.take()
            index = self.expression()
            self.expect("]")
        uses_before = self.letter_uses
        radicand = self.group()
        if radicand.imag != 0 or radicand.real < 0:
            raise _Unsupported  # branch conventions: not worth guessing
        self.mark_loose_if_letters_since(uses_before)
        return _power(radicand, 1 / index)


def _power(base: complex, exponent: complex) -> complex:
    if base.imag == 0 and base.real < 0 and (exponent.imag != 0 or exponent.real != int(exponent.real)):
        raise _Unsupported  # (-8)^(1/3): principal branch vs real root
    if abs(exponent) > 1e4 or (abs(base) > 1 and abs(exponent) * math.log10(abs(base)) > 300):
        raise _Overflow
    return base**exponent


# --------------------------------------------------------------------------------------- comparing signatures


def _percent_verdict(a: Signature, b: Signature) -> bool | None:
    """A percent against a plain number or percent, as math-verify decides.

    ``28\\%`` is 0.28 (and 7/25), and also 28 when both are written as non-negative integers: math-verify then
    compares the written integers. So ``28\\%`` is not ``28.0``, and ``12.5\\%`` is not ``12.5``.
    """
    if a.number is None or b.number is None:
        return None  # 28\% against an expression or a list: math-verify
    if a.number == b.number or _written_integer(a) == _written_integer(b) is not None:
        return True
    if a.exact and b.exact:
        return False
    return False if _values_differ(a, b) else None


def _written_integer(number: Signature) -> Fraction | None:
    """The integer as written (28 for ``28\\%``), when it is one; a negative percent is not (``-5\\%``)."""
    written = number.number * 100 if number.percent and number.number is not None else number.number
    if not number.exact or written is None or written.denominator != 1 or (number.percent and written < 0):
        return None
    return written


def _assignments_comparable(a: Signature, b: Signature) -> bool:
    """Whether two assignments' relations are settled by their right-hand sides.

    ``x=5`` vs ``y=5`` and ``y=2x`` vs ``x=3`` differ (one constrains a variable the other leaves free), ``y=2x``
    vs ``y=3x`` differ as their right-hand sides do; but ``x = y+1`` and ``y = x-1`` are one relation, a job
    for sympy's ``solve``.
    """
    free = a.letters | b.letters
    if a.assigned != b.assigned:
        return a.assigned not in free or b.assigned not in free
    return a.assigned not in free


def _values_differ(a: Signature, b: Signature) -> bool:
    scale = max(a.scale, b.scale)
    if a.kind == "scalar" and b.kind == "scalar":
        return _far(a.items[0], b.items[0], scale)
    if "matrix" in (a.kind, b.kind):
        # math-verify never equates a matrix with a scalar, list or set (not even a 1x1 one)
        return (
            a.kind != b.kind or a.shape != b.shape or any(map(_far, a.items, b.items, [scale] * len(a.items)))
        )
    if "scalar" in (a.kind, b.kind):
        return not (a.collapses or b.collapses)  # {1, 1} and [1, 1] are {1}; (2, 1) is () or a tuple
    if "union" in (a.kind, b.kind):
        return _unions_differ(a, b, scale)
    return _pairs_read_apart(a, b, scale) or _lists_differ(a, b, scale)


def _values_same(a: Signature, b: Signature) -> bool:
    """Equal values at every point, where that proves equality and math-verify proves it too.

    Only letter-free expressions and rational functions of letters qualify (not ``\\sqrt{x^2}`` vs ``x``, which
    agree at our positive points only), and only to 12 digits without cancellation, on values below 1e6 (so
    ``10^{12}+1`` is not ``10^{12}``). latex2sympy reads ``i`` as the imaginary unit or as a symbol depending on
    the spelling (``i^2`` is -1, ``2i^2`` is 2 i**2), so a scalar with ``i`` must also agree with ``i`` read as a
    variable; and ``E`` is a symbol where ``e`` is Euler's number, so no claim mixes them.
    """
    letters = a.letters | b.letters
    if a.loose or b.loose or a.collapses or b.collapses or {"e", "E"} <= letters:
        return False
    scale = max(a.scale, b.scale)
    if "i" in letters:
        both_scalars = a.kind == b.kind == "scalar"
        if not both_scalars or a.symbolic_i is None or b.symbolic_i is None:
            return False
        if not _same(a.symbolic_i, b.symbolic_i, scale):
            return False
    if a.kind == "scalar" and b.kind == "scalar":
        return _same(a.items[0], b.items[0], scale)
    if a.kind == "matrix" and b.kind == "matrix":
        return a.shape == b.shape and all(map(_same, a.items, b.items, [scale] * len(a.items)))
    if {a.kind, b.kind} <= {"{}", ","}:  # finite sets: the order does not matter
        return len(a.items) == len(b.items) and _same_multiset(a.items, b.items, scale)
    if a.kind == b.kind and a.kind in _INTERVALS and not (a.maybe_empty or b.maybe_empty):
        return len(a.items) == len(b.items) and all(map(_same, a.items, b.items, [scale] * len(a.items)))
    if _tuple_and_list(a, b, scale):  # (8, -2) and 8, -2: math-verify compares them in order
        return len(a.items) == len(b.items) and all(map(_same, a.items, b.items, [scale] * len(a.items)))
    if "union" in (a.kind, b.kind):
        pieces_a, pieces_b = _merged_intervals(a), _merged_intervals(b)
        return pieces_a is not None and pieces_a == pieces_b
    return False


def _pairs_read_apart(a: Signature, b: Signature, scale: float) -> bool:
    """Two bracketed pairs that latex2sympy reads as different intervals, or as an interval and a tuple.

    ``(1, 2)`` and ``[1, 2)`` are intervals (an infinite end is always open: ``[-\\infty, 3]`` is
    ``(-\\infty, 3]``), and intervals with other brackets differ; ``(2, 1)`` and ``[2, 1]`` are tuples, which
    equal no interval in math-verify's eyes (it compares an open interval with a tuple in order).
    """
    if a.kind not in _INTERVALS or b.kind not in _INTERVALS or len(a.items) != 2 or len(b.items) != 2:
        return False
    if a.letters or b.letters or a.collapses or b.collapses or a.maybe_empty or b.maybe_empty:
        return False
    order_a, order_b = _order(a, scale), _order(b, scale)
    if order_a is None or order_b is None:
        return False
    if order_a != order_b:
        return True
    return order_a == "<" and _open_ends(a) != _open_ends(b)


def _tuple_and_list(a: Signature, b: Signature, scale: float) -> bool:
    """A letter-free tuple (or open interval) and a bare list, which math-verify compares item by item in order.

    ``(1, 2)`` (an open interval) and ``(8, -2)``, ``[8, -2]``, ``(1, 2, 3)`` (tuples) qualify; ``[1, 2]`` (a
    closed interval) and half-open ones do not.
    """
    if {a.kind, b.kind} not in ({",", "()"}, {",", "[]"}) or a.letters or b.letters:
        return False
    bracketed = a if a.kind != "," else b
    if len(bracketed.items) != 2:
        return True
    order = _order(bracketed, scale)
    return order == ">" or (order == "<" and bracketed.kind == "()")


def _order(pair: Signature, scale: float) -> str | None:
    """``"<"`` when a pair's two values clearly increase at every point, ``">"`` when they clearly decrease."""
    start, end = pair.items
    if any(v.imag for v in start + end) or any(
        not _far_value(s, e, scale) for s, e in zip(start, end, strict=True)
    ):
        return None
    if all(s.real < e.real for s, e in zip(start, end, strict=True)):
        return "<"
    return ">" if all(s.real > e.real for s, e in zip(start, end, strict=True)) else None


def _open_ends(pair: Signature) -> tuple[bool, bool]:
    start, end = pair.items[0][0].real, pair.items[1][0].real
    return pair.kind[0] == "(" or math.isinf(start), pair.kind[1] == ")" or math.isinf(end)


def _same_multiset(
    a: tuple[tuple[complex, ...], ...], b: tuple[tuple[complex, ...], ...], scale: float
) -> bool:
    unmatched = list(b)
    for item in a:
        match = next((other for other in unmatched if _same(item, other, scale)), None)
        if match is None:
            return False
        unmatched.remove(match)
    return True


def _same(x: tuple[complex, ...], y: tuple[complex, ...], scale: float) -> bool:
    """Equal at every point to 12 digits, with magnitudes below 1e6 and no cancellation to speak of."""
    for u, v in zip(x, y, strict=True):
        size = max(abs(u), abs(v))
        if not (cmath.isfinite(u) and cmath.isfinite(v)):
            if u != v:
                return False
        elif size > 1e6 or scale > 100 * size or abs(u - v) > 1e-12 * size:
            return False
    return True


def _lists_differ(a: Signature, b: Signature, scale: float) -> bool:
    if a.collapses or b.collapses or (a.maybe_empty and b.maybe_empty):
        return False  # an empty interval equals no non-empty list, so one maybe-empty side is harmless
    if len(a.items) != len(b.items):
        return True
    for point in range(_POINTS):
        values_a, values_b = [v[point] for v in a.items], [v[point] for v in b.items]
        if any(v.imag != 0 for v in values_a + values_b):
            continue
        # Sorted pairing minimises the largest gap between two real multisets, so a far pair here means no
        # pairing (ordered tuple, set or interval alike) makes the lists equal.
        sorted_a, sorted_b = sorted(v.real for v in values_a), sorted(v.real for v in values_b)
        if any(_far_value(x, y, scale) for x, y in zip(sorted_a, sorted_b, strict=True)):
            return True
    return False


_Interval = tuple[float, bool, float, bool]
"""start, start included, end, end included."""


def _unions_differ(a: Signature, b: Signature, scale: float) -> bool:
    """Compare two unions (or a union and an interval) as sets of reals: merge each, then compare the pieces."""
    pieces_a, pieces_b = _merged_intervals(a), _merged_intervals(b)
    if pieces_a is None or pieces_b is None:
        return False
    if len(pieces_a) != len(pieces_b):
        return True
    for (start_a, in_a, end_a, out_a), (start_b, in_b, end_b, out_b) in zip(pieces_a, pieces_b, strict=True):
        if _far_value(start_a, start_b, scale) or _far_value(end_a, end_b, scale):
            return True
        if (start_a == start_b and in_a != in_b) or (end_a == end_b and out_a != out_b):
            return True
    return False


def _merged_intervals(signature: Signature) -> list[_Interval] | None:
    """The disjoint pieces of a constant union of intervals, sorted; None when that is not clear-cut."""
    if signature.letters or signature.collapses or signature.maybe_empty:
        return None
    brackets = signature.brackets if signature.kind == "union" else (signature.kind,)
    if brackets[0] not in _INTERVALS or len(signature.items) != 2 * len(brackets):
        return None
    pieces = []
    for index, kind in enumerate(brackets):
        start, end = signature.items[2 * index][0], signature.items[2 * index + 1][0]
        if start.imag or end.imag or not start.real < end.real:
            return None
        pieces.append((start.real, kind[0] == "[" and math.isfinite(start.real), end.real, kind[1] == "]"))
    merged: list[_Interval] = []
    for piece in sorted(pieces):
        if merged and _overlapping(merged[-1], piece):
            merged[-1] = _joined(merged[-1], piece)
        elif (
            merged and not _far_value(merged[-1][2], piece[0], signature.scale) and merged[-1][2] != piece[0]
        ):
            return None  # (0, 1/3) ∪ (0.333333, 1): too close to call
        else:
            merged.append(piece)
    return [(s, i, e, o and math.isfinite(e)) for s, i, e, o in merged]


def _overlapping(left: _Interval, right: _Interval) -> bool:
    """Whether ``right`` (which starts no earlier) overlaps or touches ``left`` without a gap."""
    return right[0] < left[2] or (right[0] == left[2] and (left[3] or right[1]))


def _joined(left: _Interval, right: _Interval) -> _Interval:
    if right[2] > left[2] or (right[2] == left[2] and right[3]):
        return (left[0], left[1], right[2], right[3])
    return left


def _ordered(start: tuple[complex, ...], end: tuple[complex, ...]) -> bool:
    """An interval's endpoints are real and strictly increasing at every point."""
    return all(s.imag == 0 and e.imag == 0 and s.real < e.real for s, e in zip(start, end, strict=True))


def _has_duplicates(items: tuple[tuple[complex, ...], ...], scale: float) -> bool:
    return any(not _far(x, y, scale) for i, x in enumerate(items) for y in items[i + 1 :])


def _far(x: tuple[complex, ...], y: tuple[complex, ...], scale: float) -> bool:
    """Two items differ clearly at some evaluation point."""
    return any(_far_value(u, v, scale) for u, v in zip(x, y, strict=True))


def _far_value(x: complex, y: complex, scale: float) -> bool:
    if not (cmath.isfinite(x) and cmath.isfinite(y)):
        return x != y
    return abs(x - y) > _ABS_TOL + _REL_TOL * max(abs(x), abs(y), scale)
