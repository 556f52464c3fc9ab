"""The majority vote and its no-majority mask, with hand-computed shares, labels and rewards."""

from __future__ import annotations

import math

import pytest

from cuma_lite import answers
from cuma_lite.voting import Vote, equivalence_classes, majority_vote, no_majority_mask

N = None  # a completion without a final answer


def test_clear_majority_rewards_its_members() -> None:
    vote = majority_vote(["7", "7", "3", "7", "7", N, "7", "2"])
    assert vote == Vote(
        label="7",
        share=5 / 8,
        masked=False,
        rewards=[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0],
        classes=[[0, 1, 3, 4, 6], [2], [7]],
    )


def test_unanimous_group() -> None:
    vote = majority_vote(["12"] * 8)
    assert (vote.label, vote.share, vote.masked, vote.rewards) == ("12", 1.0, False, [1.0] * 8)


def test_half_is_not_a_majority() -> None:
    answers_ = ["1", "2", "1", "2", "1", "2", "1", N]  # 4/8 for "1", 3/8 for "2"
    masked = majority_vote(answers_)  # min_share=0.5: share must exceed one half
    assert masked.masked and masked.share == 0.5
    assert masked.label is None and masked.rewards == [None] * 8
    ttrl = majority_vote(answers_, min_share=0.0)
    assert not ttrl.masked and ttrl.label == "1"
    assert ttrl.rewards == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_five_of_eight_is_a_majority() -> None:
    vote = majority_vote(["4", "4", "4", "4", "4", "5", "6", "6"])
    assert not vote.masked and vote.share == 0.625 and vote.label == "4"


@pytest.mark.parametrize(
    ("n_agree", "min_share", "masked"),
    [(6, 0.75, True), (7, 0.75, False), (4, 0.5, True), (5, 0.5, False), (2, 0.25, True), (3, 0.25, False)],
)
def test_min_share_is_a_strict_threshold(n_agree: int, min_share: float, masked: bool) -> None:
    group = ["9"] * n_agree + [str(i) for i in range(8 - n_agree)]  # the rest all differ from each other
    vote = majority_vote(group, min_share=min_share)
    assert vote.share == n_agree / 8
    assert vote.masked is masked
    assert (vote.rewards == [None] * 8) is masked


def test_tie_is_masked_whenever_min_share_is_positive() -> None:
    group = ["2", "1", "1", "2", "3", N, "4", N]  # "2" and "1" both hold 2/8
    for min_share in (0.5, 0.2, 0.01):
        vote = majority_vote(group, min_share=min_share)
        assert vote.masked and vote.share == 0.25 and vote.rewards == [None] * 8


def test_tie_goes_to_the_first_occurring_class_in_ttrl_mode() -> None:
    # Counter(["2", "1", "1", "2", ...]).most_common(1) is "2": equal counts keep first-insertion order
    vote = majority_vote(["2", "1", "1", "2", "3", N, "4", N], min_share=0.0)
    assert not vote.masked and vote.label == "2" and vote.share == 0.25
    assert vote.rewards == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("min_share", [0.0, 0.5])
def test_nothing_parses(min_share: float) -> None:
    vote = majority_vote([N, "", "   ", N], min_share=min_share)
    assert vote == Vote(label=None, share=0.0, masked=True, rewards=[None] * 4, classes=[])


def test_empty_group_is_masked() -> None:
    assert majority_vote([]) == Vote(label=None, share=0.0, masked=True, rewards=[], classes=[])


def test_unparseable_answers_count_in_the_denominator() -> None:
    group = ["7", "7", "7", N, N, N, N, "8"]  # 3 of the 4 parsed agree, but only 3/8 of the group
    vote = majority_vote(group)
    assert vote.masked and vote.share == 3 / 8
    ttrl = majority_vote(group, min_share=0.0)
    assert ttrl.label == "7" and ttrl.rewards == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_equivalent_forms_share_one_class() -> None:
    group = ["1/2", "0.5", "\\frac{1}{2}", "\\dfrac12", "1/3", N, "0.50", "2"]
    vote = majority_vote(group)
    assert vote.classes == [[0, 1, 2, 3, 6], [4], [7]]
    assert vote.share == 5 / 8 and not vote.masked and vote.label == "1/2"
    assert vote.rewards == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_latex_variants_that_need_math() -> None:
    group = ["\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", "\\sqrt{3}/3", "\\sqrt{3}", "3", N]
    assert equivalence_classes(group) == [[0, 1, 2], [3], [4]]
    assert majority_vote(group).share == 0.5


def test_classes_follow_first_occurrence() -> None:
    assert equivalence_classes(["b", "a", "b", N, "(A)", "c"]) == [[0, 2], [1, 4], [5]]


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, math.nan, True])
def test_min_share_is_validated(bad: float) -> None:
    with pytest.raises(ValueError, match=r"min_share=.* must be a number in \[0, 1\)"):
        majority_vote(["1"], min_share=bad)


@pytest.mark.parametrize(
    ("share", "tied", "min_share", "masked"),
    [
        (0.0, False, 0.0, True),  # nothing parsed: masked even in TTRL mode
        (0.25, True, 0.0, False),  # TTRL breaks ties instead
        (0.25, True, 0.1, True),
        (0.75, False, 0.75, True),
        (0.875, False, 0.75, False),
    ],
)
def test_no_majority_mask(share: float, tied: bool, min_share: float, masked: bool) -> None:
    assert no_majority_mask(share, tied=tied, min_share=min_share) is masked


def test_votes_are_cheap_for_plain_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typical numeric group is clustered without a single math-verify call."""

    def forbidden(a: str, b: str) -> bool:
        raise AssertionError(f"math-verify called on {a!r} vs {b!r}")

    monkeypatch.setattr(answers, "_math_verify_equal", forbidden)
    answers.clear_caches()
    vote = majority_vote(["\\frac{14}{3}", "14/3", "4.6", "\\dfrac{14}{3}", "5", N, "14/3", "\\frac{14}{3}"])
    assert vote.share == 5 / 8 and vote.label == "\\frac{14}{3}"
