"""The final answer of a completion: which string did the model commit to?

Real completions box intermediate results, box each part of a multi-part answer, restate the answer after the
box, or never box at all. :func:`extract_answer` reads them in this order (the rules are spelled out, with
examples, in ``docs/grading.md``):

1. **The last box decides.** The last ``\\boxed{..}``/``\\fbox{..}`` is the final answer; earlier boxes are
   intermediate results, unless they are *parts* of the last one: boxes separated by a comma, ``;``, ``and``
   or ``or`` and/or a label (``a = \\boxed{3}, b = \\boxed{5}``), and nothing else, are joined into one
   list, ``3, 5``. Repeats of the same box count once; boxes separated by whitespace alone are not joined.
2. **A final-answer phrase after the last box wins over it** ("\\boxed{255} ... The final answer is $10,455$"),
   when what it states looks like math (a digit or a LaTeX command, not a sentence): the box was intermediate.
3. **Unparseable rather than a guess.** A final box cut off (``\\boxed{12`` at the end of a truncated
   completion) or left empty after *more work* than the last complete box means that box was intermediate and
   the final answer is lost: None. Right after the complete box (``\\boxed{19}\\boxed{1``, a repetition cut
   short) it changes nothing; with no complete box at all, the fallbacks of 4 apply.
4. **Without a box**: the last "final answer is" / "Final Answer:", then "the answer is", then "Answer:"
   opening a line, then "####" (Qwen2.5-Math, Llama-3, Minerva, GSM8K styles), each reading the ``$..$``
   group or the words up to the end of the sentence; then whichever ends last of the last
   ``$..$``/``\\(..\\)``/``\\[..\\]`` group and the last number (a chain ``$x = 8/2 = 4$`` gives its last
   member, ``4``).

Surrounding ``$``, ``**`` and trailing punctuation are stripped; the box's content is returned as written.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_PHRASES = (  # in order of preference when no box states the answer; "Answer:" only opening a line
    re.compile(
        r"final answer(?:\*\*)?\s*is\b|^[ \t#*]*final answer(?:\*\*)?\s*:", re.IGNORECASE | re.MULTILINE
    ),
    re.compile(r"the answer is", re.IGNORECASE),
    re.compile(r"^[ \t#*]*answer(?:\*\*)?\s*:", re.IGNORECASE | re.MULTILINE),
    re.compile(r"####"),
)
_GLUE_MARKUP = re.compile(r"\$|\\[()\[\]]|\\q?quad(?![a-zA-Z])|\\[,;:! ]|\*\*|\\text\{([^{}]*)\}")
_PART_GLUE = re.compile(  # between two parts of one boxed answer: a separator and/or a label, nothing else
    r"\s*(?:[,;&]|\\\\|(?:[,;]\s*)?(?:and|or)\b)?\s*(?:[a-zA-Z](?:_\{?\w+\}?)?\s*=|\\[a-zA-Z]+\s*=|\([a-z]\))?\s*",
    re.IGNORECASE,
)
_MATH_SPAN = re.compile(
    r"\$\$(.+?)\$\$|(?<!\\)\$((?:\\\$|[^$])+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL
)
_NUMBER_IN_TEXT = re.compile(r"(?:(?<![\w)}])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?:(?<![\w)}])-)?\.\d+")
_PROSE = re.compile(r"\s+[A-Za-z]{3,}\b")
_TRAILING = " \t\n.,;:!?$*"
_LEADING = " \t\n:$*"


class _Box(NamedTuple):
    start: int
    end: int
    """Just after the closing brace."""
    content: str


def extract_answer(text: str) -> str | None:
    """The final answer of a completion, or None when it states none (or its final box is lost).

    >>> extract_answer("so $x = \\\\boxed{2}$ and $y = \\\\boxed{5}$")
    '2, 5'
    >>> extract_answer("\\\\boxed{255} is the subtotal.\\nThe final answer is $10,455$.")
    '10,455'
    >>> extract_answer("first \\\\boxed{3}, then we add 9 and get \\\\boxed{12") is None
    True
    """
    if not text:
        return None
    boxes, unfinished_at = _boxes(text)
    if boxes:
        last = boxes[-1]
        if unfinished_at > last.start and _glue(text, last.end, unfinished_at) is None:
            return None  # more work, then a final box cut off or empty: the final answer is lost
        restated = _phrase_after(text, last.end)
        return restated or _clean(_joined_parts(text, boxes))
    for phrase in _PHRASES:
        answer = _after_last(phrase, text)
        if answer:
            return answer
    return _clean(_last_math_or_number(text))


def closing_brace(text: str, open_at: int) -> int | None:
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


def _clean(answer: str | None) -> str | None:
    if answer is None:
        return None
    return answer.strip().lstrip(_LEADING).rstrip(_TRAILING) or None


# -------------------------------------------------------------------------------------------------- boxes


def _boxes(text: str) -> tuple[list[_Box], int]:
    """The boxes that close and hold something, in order, and where the last other one starts (-1 if none)."""
    boxes, unfinished_at = [], -1
    for match in _BOX.finditer(text):
        box = _box_at(text, match.start(), match.end())
        if box is None or not box.content.strip():
            unfinished_at = match.start()
        else:
            boxes.append(box)
    return boxes, unfinished_at


def _glue(text: str, start: int, end: int) -> str | None:
    """The text between two boxes, minus markup, when it is only whitespace or separates parts; else None."""
    glue = _GLUE_MARKUP.sub(r"\1", text[start:end])
    return glue if not glue.strip() or _PART_GLUE.fullmatch(glue) else None


def _box_at(text: str, start: int, after_command: int) -> _Box | None:
    rest = text[after_command:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        open_at = after_command + len(rest) - len(stripped)
        close_at = closing_brace(text, open_at)
        return None if close_at is None else _Box(start, close_at + 1, text[open_at + 1 : close_at])
    unbraced = re.match(r"\s+([^\s$]+)", rest)  # \boxed 5
    return _Box(start, after_command + unbraced.end(), unbraced.group(1)) if unbraced else None


def _joined_parts(text: str, boxes: list[_Box]) -> str:
    """The last box, with the boxes just before it that are parts of the same answer (``\\boxed{3}, \\boxed{5}``)."""
    parts = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        if box.end > parts[0].start:
            continue  # it encloses the last box: \\boxed{\\boxed{4}} is 4
        glue = _glue(text, box.end, parts[0].start)
        if not glue or not glue.strip():
            break  # prose, or whitespace alone (a repeated or corrected box, not a part)
        parts.insert(0, box)
    contents = list(dict.fromkeys(part.content.strip() for part in parts))  # a repeated box counts once
    return ", ".join(contents)


# ------------------------------------------------------------------------------------------------ phrases


def _phrase_after(text: str, position: int) -> str | None:
    """What the last final-answer phrase after ``position`` states, if it looks like math."""
    found = [match for phrase in _PHRASES for match in phrase.finditer(text, position)]
    for match in sorted(found, key=lambda m: m.start(), reverse=True):
        answer = _clean(_stated(text, match.end()))
        if answer and re.search(r"[\d\\]", answer) and not re.match(r"[A-Za-z]{2,}\b", answer):
            return answer  # not "The answer is correct because 2+2=4"
    return None


def _after_last(phrase: re.Pattern[str], text: str) -> str | None:
    matches = list(phrase.finditer(text))
    answer = _clean(_stated(text, matches[-1].end())) if matches else None
    return None if answer and _BOX.search(answer) else answer  # "the answer is \\boxed{" was cut off


def _stated(text: str, position: int) -> str:
    """The answer a phrase ending at ``position`` introduces: on the rest of its line, or on the next line."""
    lines = text[position:].lstrip(" \t:*").split("\n")
    line = lines[0].strip() or next((rest.strip() for rest in lines[1:3] if rest.strip()), "")
    return _leading_math(line)


def _leading_math(line: str) -> str:
    """The math span a phrase introduces: a ``$..$``/``\\(..\\)`` group, else the text to the sentence's end."""
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if line.startswith(opening):
            end = line.find(closing, len(opening))
            return line[len(opening) : end] if end > 0 else line[len(opening) :]
    sentence_end = re.search(r"\.(?:\s|$)", line)
    sentence = line[: sentence_end.start()] if sentence_end else line
    if sentence[:1].isalpha():
        return sentence  # a word answer (Evelyn, even, east)
    for prose in _PROSE.finditer(sentence):  # "4 because ...", "10,455 dollars"
        head = sentence[: prose.start()]
        if head.count("{") == head.count("}"):
            return head
    return sentence


# ----------------------------------------------------------------------------------------- no anchor at all


def _last_math_or_number(text: str) -> str | None:
    """Whichever ends last: the last ``$..$``-like group (its last ``=`` member) or the last number."""
    spans = list(_MATH_SPAN.finditer(text))
    numbers = list(_NUMBER_IN_TEXT.finditer(text))
    if spans and (not numbers or spans[-1].end() >= numbers[-1].end()):
        content = next(group for group in spans[-1].groups() if group is not None)
        members = re.split(r"(?<![<>!\\])=", content)
        return members[-1] if len(members) > 2 and "," not in content else content
    return numbers[-1].group() if numbers else None
