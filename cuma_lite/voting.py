"""The majority vote over a group of sampled answers, and CuMa's **no-majority mask**.

TTRL (label-free RL) samples G completions per prompt, takes the most common final answer as a pseudo-label and
rewards agreement with it: 1.0 for completions whose answer is equivalent to the label, 0.0 for the rest.
Its weakness is a group with no real consensus (3-2-2-1 out of 8): the "label" is then mostly noise, and
training on it teaches the model its own mistakes.

CuMa's **no-majority mask** removes such groups from the loss instead: when the largest class of equivalent
answers holds no more than ``min_share`` of the group (default 0.5: a strict majority is required), or when two
classes tie for the largest, the group is masked and every reward is ``None`` (no gradient at all, rather than a
reward of 0). ``min_share=0`` recovers TTRL exactly: nothing is masked unless no answer parses, and a tie goes
to the class that occurs first, as ``collections.Counter.most_common`` does in TTRL's code.

Answers are grouped into equivalence classes with :func:`cuma_lite.answers.answers_equivalent` (LaTeX-aware:
``\\frac12``, ``0.5`` and ``1/2`` are one answer). Unparseable answers (``None`` or blank: the completion stated
no answer) count in the denominator of the share and never form a class, so a group of mostly truncated
completions cannot reach a majority.

Clustering is fast because most answers never reach math-verify: they are first bucketed by their normal form
(:func:`cuma_lite.answers.normalize_answer`), then buckets are merged greedily, in order of first occurrence,
against each class's first answer; most of those comparisons are settled by the cheap numeric tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cuma_lite.answers import answers_equivalent, normalize_answer

TTRL_MIN_SHARE = 0.0
"""``min_share`` of plain TTRL: no mask, the plurality answer is the label."""
CUMA_MIN_SHARE = 0.5
"""``min_share`` of CuMa's default no-majority mask: more than half of the group must agree."""


@dataclass(frozen=True)
class Vote:
    """The outcome of one group's vote."""

    label: str | None
    """The pseudo-label: the first-occurring answer of the winning class, as written; None when masked."""
    share: float
    """Size of the largest class / number of answers (unparseable answers included in the denominator)."""
    masked: bool
    """True when the no-majority mask removes this group from the loss."""
    rewards: list[float | None]
    """Per answer: 1.0 in the label's class, 0.0 otherwise (unparseable included); all None when masked."""
    classes: list[list[int]]
    """Equivalence classes as lists of answer indices, ordered by first occurrence; unparseable answers are in
    none of them."""


def majority_vote(answers: Sequence[str | None], *, min_share: float = CUMA_MIN_SHARE) -> Vote:
    """Vote over one group's final answers; mask the group when it has no clear majority.

    Args:
        answers: the group's extracted final answers; ``None`` (or a blank string) for a completion without one.
        min_share: the largest class must hold *more* than this share of the group, and be the only largest
            class, or the group is masked. 0.5 (default) requires a strict majority; 0 is plain TTRL.

    Returns:
        A :class:`Vote`. An empty group is a masked vote with share 0.
    """
    check_min_share(min_share)
    classes = equivalence_classes(answers)
    sizes = [len(c) for c in classes]
    largest = max(sizes, default=0)
    share = largest / len(answers) if answers else 0.0
    tied = sizes.count(largest) > 1
    if no_majority_mask(share, tied=tied, min_share=min_share):
        return Vote(None, share, True, [None] * len(answers), classes)
    winners = set(classes[sizes.index(largest)])  # first-occurring class wins a tie (min_share == 0 only)
    rewards: list[float | None] = [1.0 if i in winners else 0.0 for i in range(len(answers))]
    return Vote(answers[min(winners)], share, False, rewards, classes)


def no_majority_mask(share: float, *, tied: bool, min_share: float) -> bool:
    """CuMa's no-majority mask: True when the group has no clear majority and must not be trained on.

    Masked when no answer parses (``share == 0``), when ``share <= min_share``, or, for ``min_share > 0``, when
    two classes tie for the largest. At ``min_share == 0`` (TTRL) only the first condition can hold.
    """
    if share <= 0.0:
        return True
    if min_share == 0.0:
        return False
    return share <= min_share or tied


def check_min_share(min_share: float) -> None:
    """Raise a ValueError that says what to do unless ``0 <= min_share < 1``."""
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0.0 <= min_share < 1.0:
        raise ValueError(
            f"min_share={min_share!r} must be a number in [0, 1): 0 is TTRL's plain majority vote, 0.5 "
            "(default) requires a strict majority; a value of 1 or more would mask every group."
        )


def equivalence_classes(answers: Sequence[str | None]) -> list[list[int]]:
    """Group answer indices into classes of equivalent answers, in order of first occurrence.

    Answers with the same normal form share a bucket without any comparison; buckets then join the first class
    whose first answer is equivalent to theirs (greedy, like clustering against class representatives).
    Unparseable answers (None or blank) belong to no class.
    """
    buckets: dict[str, list[int]] = {}
    for index, answer in enumerate(answers):
        key = normalize_answer(answer) if answer else ""
        if key:
            buckets.setdefault(key, []).append(index)
    classes: list[list[int]] = []
    representatives: list[str] = []  # each class's first answer
    for members in buckets.values():
        answer = str(answers[members[0]])
        home = next((i for i, rep in enumerate(representatives) if answers_equivalent(rep, answer)), None)
        if home is None:
            classes.append(list(members))
            representatives.append(answer)
        else:
            classes[home].extend(members)
    for c in classes:
        c.sort()
    return classes
