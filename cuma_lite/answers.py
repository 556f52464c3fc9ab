"""Final answers: pull one out of a completion, and decide whether two of them are the same answer.

The majority vote (``voting.py``) needs two things from a completion: its final answer as a string
(:func:`extract_answer`) and a test for "these two answers are the same" (:func:`answers_equivalent`). Both are
pure functions of strings; nothing here imports torch, trl or vLLM, and math-verify is imported only when a
comparison actually needs it.

Equivalence is decided in three tiers, cheapest first, because a vote compares every distinct answer of a group
with every other, and a single math-verify call costs 1 ms to 0.3 s (parsing LaTeX with antlr, then sympy):

1. **Normal form** (:func:`normalize_answer`). Spacing (``\\,``, ``\\!``), ``\\left``/``\\right``, ``\\dfrac``,
   ``^\\circ``, units, ``\\text{...}`` wrappers and ``$`` go away; plain numbers (``142.0``, ``\\frac12``,
   ``1/2``, ``0.5``, ``10{,}080``, ``1\\frac{4}{5}``) become one canonical string of their exact value. Equal
   normal forms are equal answers, without any further work.
2. **Numeric signatures.** An answer built from numbers, letters, ``\\frac``, ``\\sqrt``, ``\\pi``, ``e``, ``i``,
   ``\\pm``, a few functions and ``+-*/^`` (or a tuple, set, interval, union, matrix or assignment ``x=...`` of
   such) is evaluated at three fixed points, each letter standing for a fixed number per point.

   * Values that clearly differ somewhere mean *different*, for math-verify too: each of its rules
     (structural, numeric to 6 decimals, symbolic ``simplify(a - b) == 0``, elementwise for containers) implies
     equal values everywhere. Where this reader and latex2sympy might read a string differently (``2^10``,
     ``\\frac123``, ``2 3``, ``\\sin x y``, ``\\log``), it refuses and leaves the pair to math-verify.
   * Values equal to 12 digits everywhere mean *same*, but only where that is proof and math-verify agrees:
     letter-free expressions and rational functions of letters (no ``\\sqrt{x^2}``, no ``e`` or ``i``, which
     latex2sympy reads as symbols in some spellings), magnitudes below 1e6, no cancellation. A pair this close
     yet different (``1`` vs ``1+10^{-15}``) is the one deliberate deviation from math-verify.
3. **math-verify** (``parse`` + ``verify``) on the normal forms, for everything else. Its parses and verdicts are
   cached (``functools.lru_cache``), and the pair is put in a canonical order first, so the relation is
   symmetric even though ``math_verify.verify`` is not.

Bounded time. math-verify's own timeouts (``parsing_timeout``, ``timeout_seconds``) use ``signal.alarm``, which
only works in the main thread: off it, math-verify *raises* instead. So in the main thread we pass
:data:`PARSE_TIMEOUT_S`/:data:`VERIFY_TIMEOUT_S`; off it we pass ``None`` and rely on the guards that apply
everywhere: answers longer than :data:`MAX_VERIFY_CHARS`, with exponent towers, or whose numeric value
overflows are never handed to sympy (they are equal only to their own normal form). Any exception means "not
equivalent": :func:`answers_equivalent` never raises. ``signal.alarm`` also means a caller's own SIGALRM timer
is suspended while math-verify runs.
"""

from __future__ import annotations

import cmath
import functools
import logging
import math
import re
import threading
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

PARSE_TIMEOUT_S = 1
"""math-verify parsing timeout per answer, seconds (an integer: ``signal.alarm``)."""
VERIFY_TIMEOUT_S = 1
"""math-verify comparison timeout per pair, seconds."""
MAX_VERIFY_CHARS = 300
"""Normal forms longer than this are never parsed by sympy (MATH-500's longest answer is ~60 characters)."""
_MAX_NUMBER_CHARS = 200
"""Longer digit strings are not treated as plain numbers (int() of huge strings is slow and capped)."""
_CACHE_SIZE = 1 << 16
_REL_TOL = 1e-9
_ABS_TOL = 2e-6
"""math-verify rounds floats to 6 decimals; values further apart than this can never round to the same."""

# --------------------------------------------------------------------------------------------- extraction

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_FINAL_ANSWER = re.compile(r"final answer is", re.IGNORECASE)
_THE_ANSWER = re.compile(r"the answer is", re.IGNORECASE)
_HASHES = re.compile(r"####")
_NUMBER_IN_TEXT = re.compile(r"(?:(?<![\w)}])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?:(?<![\w)}])-)?\.\d+")
_TRAILING = " \t\n.,;:!?$*"
_LEADING = " \t\n:$*"


def extract_answer(text: str) -> str | None:
    """The final answer of a completion, or None when it states none.

    In order of preference: the last brace-matched ``\\boxed{...}``/``\\fbox{...}`` (also ``\\boxed 5``), the
    text after the last "final answer is", after the last "the answer is", after the last ``####``, and
    finally the last number in the text. Surrounding ``$``, ``**`` and trailing punctuation are stripped.
    """
    if not text:
        return None
    for finder in (_last_boxed, _after_final_answer, _after_the_answer, _after_hashes, _last_number):
        answer = _clean(finder(text))
        if answer:
            return answer
    return None


def _clean(answer: str | None) -> str | None:
    if answer is None:
        return None
    return answer.strip().lstrip(_LEADING).rstrip(_TRAILING) or None


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed``/``\\fbox`` whose braces close (a truncated one is skipped)."""
    for match in reversed(list(_BOX.finditer(text))):
        content = _box_content(text, match.end())
        if content and content.strip():
            return content
    return None


def _box_content(text: str, start: int) -> str | None:
    rest = text[start:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        return _braced(text, start + len(rest) - len(stripped))
    unbraced = re.match(r"\s+([^\s$]+)", rest)  # \boxed 5
    return unbraced.group(1) if unbraced else None


def _braced(text: str, open_at: int) -> str | None:
    """Inside of the brace group opening at ``open_at``; None when it never closes."""
    close_at = _closing_brace(text, open_at)
    return None if close_at is None else text[open_at + 1 : close_at]


def _closing_brace(text: str, open_at: int) -> int | None:
    """Index of the brace closing the one at ``open_at``; escaped braces (``\\{``) do not count."""
    depth, i = 0, open_at
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _after_final_answer(text: str) -> str | None:
    return _after_last(_FINAL_ANSWER, text)


def _after_the_answer(text: str) -> str | None:
    return _after_last(_THE_ANSWER, text)


def _after_hashes(text: str) -> str | None:
    return _after_last(_HASHES, text)


def _after_last(pattern: re.Pattern[str], text: str) -> str | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    line = text[matches[-1].end() :].lstrip(" \t:*").split("\n", 1)[0]
    return _leading_math(line)


def _leading_math(line: str) -> str:
    """The math span a phrase introduces: a ``$..$``/``\\(..\\)`` group, else the text to the sentence's end."""
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if line.startswith(opening):
            end = line.find(closing, len(opening))
            return line[len(opening) : end] if end > 0 else line[len(opening) :]
    sentence_end = re.search(r"\.(?:\s|$)", line)
    return line[: sentence_end.start()] if sentence_end else line


def _last_number(text: str) -> str | None:
    numbers = _NUMBER_IN_TEXT.findall(text)
    return numbers[-1] if numbers else None


# ---------------------------------------------------------------------------------------------- normal form

_TEXT_WRAPPER = re.compile(r"^\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox)\{(.*)\}$", re.DOTALL)
_SPACING = re.compile(r"(?<!\\)\\[,!;: ]|\\q?quad(?![a-zA-Z])|~")  # not the "\\ " of a matrix row break
_DEGREES = re.compile(
    r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\circ(?![a-zA-Z])|°|\\degree(?![a-zA-Z])"
)
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?:\.|(?![a-zA-Z]))")
_CMD_SPACE = re.compile(r"(\\[a-zA-Z]+) (?=[a-zA-Z])")
_CHOICE = re.compile(r"^\(([A-Za-z])\)$")
_UNIT = re.compile(r"(?<=[\d}])\\(?:text|textrm|mbox|mathrm)\{[a-zA-Z]+\}(?:\^\{?\d\}?)?$")  # 5\text{cm}^2
_ASSIGNMENT = re.compile(r"^([a-zA-Z])=([^=<>,]+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_NUM = r"(?:\d+\.?\d*|\.\d+)"
_PLAIN_NUMBER = re.compile(rf"^[+-]?{_NUM}$")
_SLASH_FRACTION = re.compile(rf"^(?P<sign>[+-]?)(?P<num>{_NUM})/(?P<den>{_NUM})$")
_LATEX_FRACTION = re.compile(rf"^(?P<sign>[+-]?)\\frac\{{(?P<num>[+-]?{_NUM})\}}\{{(?P<den>[+-]?{_NUM})\}}$")
_MIXED_NUMBER = re.compile(
    r"^(?P<sign>[+-]?)(?P<whole>\d+)\\frac\{(?P<num>\d+)\}\{(?P<den>\d+)\}$"
)  # 1\frac{4}{5}
_SHORT_ARGS = (
    (re.compile(r"\\frac(\d)(\d)(?!\d)"), r"\\frac{\1}{\2}"),  # \frac12 (\frac123 is ambiguous: left alone)
    (re.compile(r"\\frac(\d)\{"), r"\\frac{\1}{"),
    (re.compile(r"\\frac\{([^{}]*)\}(\d)(?!\d)"), r"\\frac{\1}{\2}"),  # \frac{270}7
    (re.compile(r"\\sqrt(\d)(?!\d)"), r"\\sqrt{\1}"),
)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalize_answer(answer: str) -> str:
    """Cheap canonical form of an answer; equal forms are equal answers (``""`` for a blank answer).

    Plain numbers become their exact value, written as a decimal when it terminates (``0.5``, ``142``) and as
    ``p/q`` otherwise (``1/3``). Everything else keeps its LaTeX, minus presentation: ``$``, spacing commands
    and spaces (one is kept between a command and a letter, ``\\cot x``), ``\\left``/``\\right``, degree signs,
    a trailing unit (``5\\text{ cm}^2``, as math-verify drops it too), a whole-answer ``\\text{...}``; ``\\dfrac``/``\\tfrac`` become ``\\frac``; ``(C)`` becomes ``c`` (a single
    letter is lower-cased, as math-verify does, also left of ``x=5``).
    """
    s = _UNIT.sub("", _strip_presentation(answer.strip()))
    s = _unwrap_text(s)
    choice = _CHOICE.match(s)
    if choice:
        s = choice.group(1)
    if len(s) == 1 and s.isalpha():
        return s.lower()
    for pattern, replacement in _SHORT_ARGS:
        s = pattern.sub(replacement, s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    value = _plain_number(s)
    if value is not None:
        return _format_number(value)
    assignment = _ASSIGNMENT.match(s)
    if assignment:  # x=5.0 -> x=5, X=5 -> x=5 (math-verify is case-blind)
        rhs = _plain_number(assignment.group(2))
        s = f"{assignment.group(1).lower()}={assignment.group(2) if rhs is None else _format_number(rhs)}"
    return s


def _strip_presentation(s: str) -> str:
    s = _unwrap_boxed(s.replace("\\$", "").replace("$", "").strip())
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _LEFT_RIGHT.sub("", s)
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = s.replace("{,}", ",")
    s = _CMD_SPACE.sub("\\1\x00", " ".join(s.split()))
    return s.replace(" ", "").replace("\x00", " ").rstrip(".,;")


def _unwrap_boxed(s: str) -> str:
    """``\\boxed{x}`` (the whole answer) becomes ``x``."""
    match = _BOX.match(s)
    if match and s[match.end() :].startswith("{") and _closing_brace(s, match.end()) == len(s) - 1:
        return s[match.end() + 1 : -1].strip()
    return s


def _unwrap_text(s: str) -> str:
    """``\\text{(C)}`` (the whole answer) becomes ``(C)``."""
    match = _TEXT_WRAPPER.match(s)
    if match and _closing_brace(s, s.index("{")) == len(s) - 1:
        return match.group(1).strip()
    return s


def _plain_number(s: str) -> Fraction | None:
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


def _format_number(value: Fraction) -> str:
    """``142``, ``-0.5``, ``0.0625`` (terminating decimals) or ``1/3``."""
    q = value.denominator
    twos = (q & -q).bit_length() - 1
    fives = 0
    while q % 5 ** (fives + 1) == 0:
        fives += 1
    if q != 2**twos * 5**fives:
        return f"{value.numerator}/{value.denominator}"
    if q == 1:
        return str(value.numerator)
    places = max(twos, fives)
    digits = str(abs(value.numerator) * 10**places // q).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


# ------------------------------------------------------------------------------------------------ equivalence


def answers_equivalent(a: str, b: str) -> bool:
    """True when two answers are mathematically the same (normal form, cheap numeric test, then math-verify).

    Symmetric, cached, never raises (an error means False), and bounded in time (see the module docstring).
    Blank answers are equivalent to nothing.
    """
    try:
        key_a, key_b = normalize_answer(a), normalize_answer(b)
        if not key_a or not key_b:
            return False
        if key_a == key_b:
            return True
        return _keys_equivalent(*sorted((key_a, key_b)))
    except Exception:  # a grader must never crash the vote
        logger.debug("answers_equivalent failed on %.80r vs %.80r", a, b, exc_info=True)
        return False


def clear_caches() -> None:
    """Empty every cache of this module (normal forms, signatures, parses, verdicts): for cold benchmarks."""
    for cached in (normalize_answer, _signature, _keys_equivalent, _parsed):
        cached.cache_clear()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _keys_equivalent(key_a: str, key_b: str) -> bool:
    """Equivalence of two distinct normal forms, in canonical (sorted) order."""
    verdict = _cheap_verdict(key_a, key_b)
    if verdict is not None:
        return verdict
    if _too_risky_for_sympy(key_a) or _too_risky_for_sympy(key_b):
        logger.debug("not verifying %.60r vs %.60r: too long or explosive", key_a, key_b)
        return False
    return _math_verify_equal(key_a, key_b)


def _too_risky_for_sympy(key: str) -> bool:
    if len(key) > MAX_VERIFY_CHARS or _exponent_depth(key) >= 3:
        return True
    signature = _signature(key)
    return signature is not None and signature.overflow


def _exponent_depth(key: str) -> int:
    """How deeply exponents nest: ``2^{3^{4}}`` is 2; a chain ``9^9^9`` is 2 (readers group it differently)."""
    deepest, chain, i = 0, 0, 0
    while i < len(key):
        if key[i] != "^":
            chain, i = 0, i + 1
            continue
        if key[i + 1 : i + 2] == "{":
            close_at = _closing_brace(key, i + 1)
            if close_at is None:
                return deepest
            chain += 1 + _exponent_depth(key[i + 2 : close_at])
            i = close_at + 1
        else:
            chain += 1
            i += 2
        deepest = max(deepest, chain)
    return deepest


# ---------------------------------------------------------------------------------- math-verify (tier 3)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parsed(key: str) -> Any:
    """math-verify's parse of a normal form: its sympy object when it has one, else its string; None if empty."""
    from math_verify import parse  # lazy: keeps `import cuma_lite.voting` light

    timeout = PARSE_TIMEOUT_S if _in_main_thread() else None
    result = parse(f"${key}$", parsing_timeout=timeout)
    return result[0] if result else None


def _math_verify_equal(key_a: str, key_b: str) -> bool:
    from math_verify import verify

    gold, target = _parsed(key_a), _parsed(key_b)
    if gold is None or target is None:
        return False
    timeout = VERIFY_TIMEOUT_S if _in_main_thread() else None
    return bool(verify(gold, target, timeout_seconds=timeout))


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# ------------------------------------------------------------------------ cheap numeric signatures (tier 2)
#
# A signature evaluates an answer at a few fixed points: each letter stands for a fixed number per point, ``e``
# for Euler's number and ``i`` for the imaginary unit. Two answers whose values differ at some point are not
# identical functions, and every math-verify rule (structural, numeric, ``simplify(a - b) == 0``, elementwise
# for tuples, sets, intervals and matrices, solving for relations) implies equal values at every point; so
# differing values settle "different" without sympy. (Should latex2sympy read ``e`` or ``i`` as a plain
# symbol instead, an identity in that symbol still implies equal values at our point.) Where this reader and
# latex2sympy might read a string differently (``2^10``, ``\frac123``, ``2 3``, ``\sin x y``, ``\log``) it
# refuses, and math-verify decides.

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


@dataclass(frozen=True)
class _Signature:
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
    overflow: bool = False


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _signature(key: str) -> _Signature | None:
    """The cheap signature of a normal form, or None when it is outside the tiny grammar."""
    try:
        return _read_key(key)
    except _Overflow:
        return _Signature("scalar", overflow=True)
    except (_Unsupported, ArithmeticError, ValueError):
        return None


def _read_key(key: str) -> _Signature | None:
    plain = _plain_number(key)
    if plain is not None:
        value = complex(plain)
        return _Signature("scalar", ((value,) * _POINTS,), plain, "." not in key, scale=abs(value))
    relation = _RELATION.match(key)
    if relation:
        return _relation_signature(*relation.groups())
    base = _BASE_NUMBER.match(key)
    if base:
        value = complex(int(base.group(1)))
        return _Signature("scalar", ((value,) * _POINTS,), scale=abs(value))
    tokens = _tokenize(key)
    return _read(tokens) if tokens else None


def _relation_signature(lhs: str, operator: str, rhs: str) -> _Signature | None:
    """``x=5``, ``x\\in[1,2]`` (assignments) and ``2x+y=0`` (equations), as their right-hand side."""
    value = _signature(rhs)
    if value is None or value.overflow or value.assigned or value.equation:
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


def _read(tokens: list[str]) -> _Signature:
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
    return _Signature("scalar", (evaluated.values,), symbolic_i=evaluated.symbolic_i, **_summary([evaluated]))


def _list_signature(kind: str, items: list[list[str]]) -> _Signature:
    if kind in ("{}", ","):
        items = [expanded for item in items for expanded in _expand_plus_minus(item)]
    evaluated = [_evaluate_item(item) for item in items]
    values, summary = tuple(e.values for e in evaluated), _summary(evaluated)
    # latex2sympy reads (2,1) and [2,1] as tuples, but (2,1] as the empty set
    empty = kind in ("(]", "[)") and len(values) == 2 and not _ordered(*values)
    duplicates = _has_duplicates(values, summary["scale"])
    return _Signature(kind, values, collapses=duplicates, maybe_empty=empty, **summary)


def _expand_plus_minus(item: list[str]) -> list[list[str]]:
    """``1\\pm\\sqrt{5}`` is two set elements, as math-verify reads it."""
    count = item.count("\\pm")
    if count == 0:
        return [item]
    if count > 1:
        raise _Unsupported
    return [["+" if t == "\\pm" else t for t in item], ["-" if t == "\\pm" else t for t in item]]


def _read_union(parts: list[list[str]]) -> _Signature:
    intervals = [_read(part) for part in parts]
    if any(i.kind not in _INTERVALS or len(i.items) != 2 or i.collapses or i.maybe_empty for i in intervals):
        raise _Unsupported  # only unions of proper intervals
    endpoints = tuple(end for interval in intervals for end in interval.items)
    summary = _summary([_Evaluated((), i.scale, i.letters, i.loose) for i in intervals])
    return _Signature("union", endpoints, brackets=tuple(i.kind for i in intervals), **summary)


def _read_matrix(tokens: list[str]) -> _Signature:
    environment = tokens[0][len("\\begin{") : -1]
    if environment not in _MATRICES or tokens[-1] != f"\\end{{{environment}}}":
        raise _Unsupported  # vmatrix is a determinant; nested environments are out of scope
    rows = [row for row in _split_top_level(tokens[1:-1], "\\\\", allow_empty=True) if row]
    cells = [_split_top_level(row, "&") for row in rows]
    if not cells or len({len(row) for row in cells}) != 1:
        raise _Unsupported
    evaluated = [_evaluate(cell) for row in cells for cell in row]
    values, shape = tuple(e.values for e in evaluated), (len(cells), len(cells[0]))
    return _Signature("matrix", values, shape=shape, **_summary(evaluated))


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
    """The :class:`_Signature` fields that several evaluated items share."""
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


# ----------------------------------------------------------------------------------------- cheap verdicts


def _cheap_verdict(key_a: str, key_b: str) -> bool | None:
    """True or False when the signatures settle the pair; None means "ask math-verify"."""
    a, b = _signature(key_a), _signature(key_b)
    if a is None or b is None or a.overflow or b.overflow:
        return None
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


def _assignments_comparable(a: _Signature, b: _Signature) -> bool:
    """Whether two assignments' relations are settled by their right-hand sides.

    ``x=5`` vs ``y=5`` and ``y=2x`` vs ``x=3`` differ (one constrains a variable the other leaves free), ``y=2x``
    vs ``y=3x`` differ as their right-hand sides do; but ``x = y+1`` and ``y = x-1`` are one relation, a job
    for sympy's ``solve``.
    """
    free = a.letters | b.letters
    if a.assigned != b.assigned:
        return a.assigned not in free or b.assigned not in free
    return a.assigned not in free


def _values_differ(a: _Signature, b: _Signature) -> bool:
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
    return _lists_differ(a, b, scale)


def _values_same(a: _Signature, b: _Signature) -> bool:
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
    if "union" in (a.kind, b.kind):
        pieces_a, pieces_b = _merged_intervals(a), _merged_intervals(b)
        return pieces_a is not None and pieces_a == pieces_b
    return False


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


def _lists_differ(a: _Signature, b: _Signature, scale: float) -> bool:
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


def _unions_differ(a: _Signature, b: _Signature, scale: float) -> bool:
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


def _merged_intervals(signature: _Signature) -> list[_Interval] | None:
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
