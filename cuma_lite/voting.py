"""The majority vote over a group of sampled answers, and CuMa's **no-majority mask**.

TTRL samples G completions per prompt, takes the most common final answer as a pseudo-label and rewards agreement
with it. A group with no real consensus (3-2-2-1 of 8) makes that label noise, and training on it teaches a weak
model its own mistakes. CuMa masks such groups instead: when the largest class of equivalent answers holds no
more than ``min_share`` of the group, or two classes tie for the largest, every reward is ``None`` (no gradient
at all). ``min_share=0`` is TTRL exactly (a tie goes to the first class, as ``Counter.most_common`` does).
Unparseable answers count in the group's size and never form a class. Answers are clustered with the symmetric
:func:`cuma_lite.answers.answers_equivalent`, bucketed by their normal form first, so few pairs need comparing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cuma_lite.answers import answers_equivalent, extract_answer, normalize_answer

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


def vote_on_texts(
    texts: Sequence[str], *, min_share: float = CUMA_MIN_SHARE
) -> tuple[list[str | None], Vote]:
    """Extract each completion's final answer and vote on the group: ``(answers, vote)``.

    >>> answers, vote = vote_on_texts(["\\boxed{4}", "so 4", "\\boxed{5}", "it is 4."], min_share=0.5)
    >>> answers, vote.label, vote.rewards
    (['4', '4', '5', '4'], '4', [1.0, 1.0, 0.0, 1.0])
    """
    answers = [extract_answer(t) for t in texts]
    return answers, majority_vote(answers, min_share=min_share)
