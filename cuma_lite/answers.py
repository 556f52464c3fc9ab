"""Grading final answers: is this answer the gold one, and are these two answers the same?

Every reward, mask, pseudo-label and accuracy rests on three functions, pure functions of strings (no torch, trl
or vLLM; math-verify is imported only when a comparison needs it):

* :func:`extract_answer` (from :mod:`cuma_lite.extraction`): which final answer did a completion give?
* :func:`grade` ``(prediction, gold)``: is a prediction the gold answer? **Asymmetric, exactly as**
  ``math_verify.verify(gold, prediction)``, because the gold's form is the question's request: a gold
  ``x \\in [-2,7]`` or ``(0,1)`` (interval notation) is not answered by ``-2 \\le x \\le 7``, while a gold
  ``0<f(x)<1`` is answered by ``(0,1)``; a gold ``a+3z=0`` is not answered by ``0``. It also says which tier
  decided (:class:`Grade`), for a grading report. Use it for evaluation, pseudo-label accuracy and gold rewards.
* :func:`answers_equivalent` ``(a, b)``: are two predictions the same answer? **Symmetric**, because the vote
  clusters answers: the same when each would be graded correct with the other as gold (``grade(a, b)`` and
  ``grade(b, a)``). So ``0`` and ``a+3z=0`` never share a cluster.

Both decide in tiers, cheapest first, because a vote compares every distinct answer of a group with every other
and one math-verify call costs 1 ms to 0.3 s (antlr parsing, then sympy):

1. **Normal form** (:func:`normalize_answer`): presentation removed, plain numbers written as their exact value.
   Equal normal forms are equal answers.
2. **Numeric signatures** (:mod:`cuma_lite.numeric_signatures`): values at fixed points settle most pairs, in
   agreement with math-verify (checked against it on the grading cases in ``tests/data``).
3. **math-verify** (``parse`` + ``verify``) on the normal forms, for everything else; parses and verdicts cached.

Deliberate differences from math-verify (each with a test case and its reason; see ``docs/grading.md``): a
percent in words inside ``\\text{}`` stays a percent, ``28.0`` answers ``28\\%`` as ``28`` does,
``0.\\overline{3}`` is 1/3, ``1 600`` is 1600; and extraction reads intermediate boxes as intermediate and
calls a final box lost after more work unparseable.

Bounded time. math-verify's timeouts use ``signal.alarm``, which only works in the main thread (off it,
math-verify *raises*). So in the main thread we pass :data:`PARSE_TIMEOUT_S`/:data:`VERIFY_TIMEOUT_S`; off it
``None``, relying on the guards that apply everywhere: answers longer than :data:`MAX_VERIFY_CHARS`, with
exponent towers, or whose value overflows never reach sympy (they are equal only to their own normal form). Any
exception means "not equivalent": nothing here raises. A caller's own SIGALRM timer is suspended meanwhile.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from fractions import Fraction
from typing import Any, NamedTuple

from cuma_lite.extraction import closing_brace, extract_answer
from cuma_lite.numeric_signatures import cheap_verdict, plain_number, signature

__all__ = [
    "TIERS",
    "Grade",
    "answers_equivalent",
    "clear_caches",
    "extract_answer",
    "grade",
    "normalize_answer",
]

logger = logging.getLogger(__name__)

PARSE_TIMEOUT_S = 1
"""math-verify parsing timeout per answer, seconds (an integer: ``signal.alarm``)."""
VERIFY_TIMEOUT_S = 1
"""math-verify comparison timeout per pair, seconds."""
MAX_VERIFY_CHARS = 300
"""Normal forms longer than this are never parsed by sympy (MATH-500's longest answer is ~60 characters)."""
_CACHE_SIZE = 1 << 16

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
_GROUPED_NUMBER = re.compile(r"^([+-]?)(\d{1,3}(?:,\d{3})+)(\.\d+)?$")
_LIST_COMMA = re.compile(r"(?<=\d),\s+(?=\d{3}(?!\d))")  # "32, 349": two numbers, not 32349
_NEGATIVE_SPACE = re.compile(r"\\!\s*")  # 10,\!080: removed with what follows, as math-verify does
_PERCENT = re.compile(
    r"\s*(?:\\?%|\\text\{\s*(?:\\?%|percent|percentage|pct)\s*\}|\b(?:percentage|percent|pct)\b)[\s.]*$"
)
_REPEATING = re.compile(r"^([+-]?)(\d*)\.(\d*)\\overline\{(\d+)\}$")
_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
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
    ``p/q`` otherwise (``1/3``, also from ``0.\\overline{3}``). Everything else keeps its LaTeX, minus
    presentation: ``$``, spacing commands and spaces (one is kept between a command and a letter, ``\\cot x``,
    and after a comma that separates numbers, ``32, 349``), ``\\left``/``\\right``, degree signs, a trailing unit
    (``5\\text{ cm}^2``, as math-verify drops it too), a whole-answer ``\\text{...}``; ``\\dfrac``/``\\tfrac``
    become ``\\frac``; a percent in words becomes ``\\%``; ``(C)`` becomes ``c`` (a word is lower-cased, as
    math-verify does, also a single letter left of ``x=5``).

    >>> [normalize_answer(a) for a in ("10,\\\\!455", "0,111", "32, 349", "28 percent", "\\\\text{Even}")]
    ['10455', '0.111', '32, 349', '28\\\\%', 'even']
    """
    s = _UNIT.sub("", _strip_presentation(answer.strip()))
    s = _unwrap_text(s)
    choice = _CHOICE.match(s)
    if choice:
        s = choice.group(1)
    if s.isalpha() and (len(s) == 1 or s.isascii()):
        return s.lower()
    for pattern, replacement in _SHORT_ARGS:
        s = pattern.sub(replacement, s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    value = plain_number(s)
    if value is None:
        value = _repeating_decimal(s)
    if value is not None:
        return _format_number(value)
    percent = plain_number(s[:-2]) if s.endswith("\\%") else None
    if percent is not None and "/" not in _format_number(percent):
        return f"{_format_number(percent)}\\%"  # 28.0\% -> 28\%
    assignment = _ASSIGNMENT.match(s)
    if assignment:  # x=5.0 -> x=5, X=5 -> x=5 (math-verify is case-blind)
        rhs = plain_number(assignment.group(2))
        s = f"{assignment.group(1).lower()}={assignment.group(2) if rhs is None else _format_number(rhs)}"
    return s


def _strip_presentation(s: str) -> str:
    s = _unwrap_boxed(s.replace("\\$", "").replace("$", "").strip())
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _LEFT_RIGHT.sub("", s)
    s = _PERCENT.sub(r"\\%", s)
    s = _NEGATIVE_SPACE.sub("", s).replace("{,}", ",")
    grouped = _grouped_number(s.strip())
    if grouped is not None:
        return grouped
    s = _SPACING.sub(" ", s)
    s = _LIST_COMMA.sub(",\x00", s)
    s = _DEGREES.sub("", s)
    s = _CMD_SPACE.sub("\\1\x00", " ".join(s.split()))
    return s.replace(" ", "").replace("\x00", " ").rstrip(".,;")


def _grouped_number(s: str) -> str | None:
    """A whole answer with digit groups, read as latex2sympy reads it: ``10,455`` is 10455, ``0,111`` is 0.111.

    A space after the comma makes a list instead (``32, 349``): see ``_LIST_COMMA``.
    """
    match = _GROUPED_NUMBER.match(s)
    if match is None:
        return None
    sign, digits, decimals = match.groups()
    if not digits.startswith("0"):
        return f"{sign}{digits.replace(',', '')}{decimals or ''}"
    if digits.count(",") == 1 and not decimals:
        return f"{sign}{digits.replace(',', '.')}"  # a decimal comma
    return None


def _repeating_decimal(s: str) -> Fraction | None:
    """``0.\\overline{3}`` is 1/3 and ``0.1\\overline{6}`` is 1/6 (math-verify reads them as 0)."""
    match = _REPEATING.match(s)
    if match is None:
        return None
    sign, whole, fixed, period = match.groups()
    value = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    return -value if sign == "-" else value


def _unwrap_boxed(s: str) -> str:
    """``\\boxed{x}`` (the whole answer) becomes ``x``."""
    match = _BOX.match(s)
    if match and s[match.end() :].startswith("{") and closing_brace(s, match.end()) == len(s) - 1:
        return s[match.end() + 1 : -1].strip()
    return s


def _unwrap_text(s: str) -> str:
    """``\\text{(C)}`` (the whole answer) becomes ``(C)``."""
    match = _TEXT_WRAPPER.match(s)
    if match and closing_brace(s, s.index("{")) == len(s) - 1:
        return match.group(1).strip()
    return s


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


# ---------------------------------------------------------------------------------------------------- grading


class Grade(NamedTuple):
    """A verdict and the tier that reached it, for a grading report (``cuma-lite eval --out``)."""

    correct: bool
    tier: str
    """``"unparsed"`` (no prediction or a blank one), ``"normal_form"``, ``"numeric"``, ``"math_verify"``,
    ``"guard"`` (too long or explosive for sympy: not equal) or ``"error"`` (an exception: not equal)."""


TIERS = ("unparsed", "normal_form", "numeric", "math_verify", "guard", "error")


def grade(prediction: str | None, gold: str) -> Grade:
    """Is ``prediction`` the ``gold`` answer? As ``math_verify.verify(gold, prediction)``, only cheaper.

    Asymmetric (the gold's form is what the question asked for), cached, never raises, bounded in time.

    >>> grade("\\\\frac{1}{2}", "0.5")
    Grade(correct=True, tier='normal_form')
    >>> grade("(0,1)", "0<f(x)<1"), grade("0<f(x)<1", "(0,1)")[0]
    (Grade(correct=True, tier='math_verify'), False)
    >>> grade(None, "5")
    Grade(correct=False, tier='unparsed')
    """
    if prediction is None:
        return Grade(False, "unparsed")
    try:
        gold_key, predicted_key = normalize_answer(gold), normalize_answer(prediction)
        if not gold_key or not predicted_key:
            return Grade(False, "unparsed")
        if gold_key == predicted_key:
            return Grade(True, "normal_form")
        return _grade_keys(gold_key, predicted_key)
    except Exception:  # a grader must never crash an evaluation
        logger.debug("grade failed on %.80r vs gold %.80r", prediction, gold, exc_info=True)
        return Grade(False, "error")


def answers_equivalent(a: str, b: str) -> bool:
    """Are two answers the same? Symmetric: each is graded correct with the other as gold (see :func:`grade`).

    This is the vote's relation. Cached, never raises, bounded in time; blank answers equal nothing.

    >>> answers_equivalent("\\\\dfrac{1}{2}", "0.5"), answers_equivalent("0", "a+3z=0")
    (True, False)
    """
    try:
        key_a, key_b = normalize_answer(a), normalize_answer(b)
        if not key_a or not key_b:
            return False
        if key_a == key_b:
            return True
        return _grade_keys(key_a, key_b).correct and _grade_keys(key_b, key_a).correct
    except Exception:  # a grader must never crash the vote
        logger.debug("answers_equivalent failed on %.80r vs %.80r", a, b, exc_info=True)
        return False


def clear_caches() -> None:
    """Empty every cache of this module (normal forms, signatures, parses, verdicts): for cold benchmarks."""
    for cached in (normalize_answer, signature, _grade_keys, _parsed):
        cached.cache_clear()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _grade_keys(gold_key: str, predicted_key: str) -> Grade:
    """The verdict on two distinct normal forms, gold first."""
    verdict = cheap_verdict(gold_key, predicted_key)
    if verdict is not None:
        return Grade(verdict, "numeric")
    if _too_risky_for_sympy(gold_key) or _too_risky_for_sympy(predicted_key):
        logger.debug("not verifying %.60r vs %.60r: too long or explosive", gold_key, predicted_key)
        return Grade(False, "guard")
    return Grade(_math_verify_equal(gold_key, predicted_key), "math_verify")


def _too_risky_for_sympy(key: str) -> bool:
    if len(key) > MAX_VERIFY_CHARS or _exponent_depth(key) >= 3:
        return True
    numeric = signature(key)
    return numeric is not None and numeric.overflow


def _exponent_depth(key: str) -> int:
    """How deeply exponents nest: ``2^{3^{4}}`` is 2; a chain ``9^9^9`` is 2 (readers group it differently)."""
    deepest, chain, i = 0, 0, 0
    while i < len(key):
        if key[i] != "^":
            chain, i = 0, i + 1
            continue
        if key[i + 1 : i + 2] == "{":
            close_at = closing_brace(key, i + 1)
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


def _math_verify_equal(gold_key: str, predicted_key: str) -> bool:
    from math_verify import verify

    gold, target = _parsed(gold_key), _parsed(predicted_key)
    if gold is None or target is None:
        return False
    timeout = VERIFY_TIMEOUT_S if _in_main_thread() else None
    return bool(verify(gold, target, timeout_seconds=timeout))


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
