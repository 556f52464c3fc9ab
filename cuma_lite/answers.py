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
2. **Numeric signatures** (:mod:`cuma_lite.numeric_signatures`): values at three fixed points settle most pairs.
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

import functools
import logging
import re
import threading
from fractions import Fraction
from typing import Any

from cuma_lite.numeric_signatures import cheap_verdict, plain_number, signature

logger = logging.getLogger(__name__)

PARSE_TIMEOUT_S = 1
"""math-verify parsing timeout per answer, seconds (an integer: ``signal.alarm``)."""
VERIFY_TIMEOUT_S = 1
"""math-verify comparison timeout per pair, seconds."""
MAX_VERIFY_CHARS = 300
"""Normal forms longer than this are never parsed by sympy (MATH-500's longest answer is ~60 characters)."""
_CACHE_SIZE = 1 << 16

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
    value = plain_number(s)
    if value is not None:
        return _format_number(value)
    assignment = _ASSIGNMENT.match(s)
    if assignment:  # x=5.0 -> x=5, X=5 -> x=5 (math-verify is case-blind)
        rhs = plain_number(assignment.group(2))
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
    for cached in (normalize_answer, signature, _keys_equivalent, _parsed):
        cached.cache_clear()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _keys_equivalent(key_a: str, key_b: str) -> bool:
    """Equivalence of two distinct normal forms, in canonical (sorted) order."""
    verdict = cheap_verdict(key_a, key_b)
    if verdict is not None:
        return verdict
    if _too_risky_for_sympy(key_a) or _too_risky_for_sympy(key_b):
        logger.debug("not verifying %.60r vs %.60r: too long or explosive", key_a, key_b)
        return False
    return _math_verify_equal(key_a, key_b)


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
