"""How a group's answers become per-completion rewards: TTRL's agreement reward and the label-free variants.

TTRL rewards agreement with the plurality answer (1 or 0) and GRPO centres the rewards within the group. On a weak
model the plurality is mostly wrong, so that reinforces wrong answers. The family here keeps TTRL as its default and
adds label-free levers (:class:`Shaping`):

1. **A graded positive reward**: agreement pays ``positive * ramp(share)``, where ``share`` is the label's share of
   the pool: nothing below ``ramp_from``, full from ``ramp_to`` (a soft no-majority mask).
2. **Label-free negatives**: a completion whose answer is *rare* in the pool (share at most ``rare_share``), or that
   states no answer, is penalised by ``negative``: on a weak model a rarely seen answer is almost always wrong,
   far more reliably than the plurality is right.
3. **No centring** (``center=False``): the scores are the advantages themselves, so a penalty stays a penalty
   (negative-sample reinforcement) instead of turning into a push towards the other answers of the group.
4. **Consensus consolidation** (``consolidate``): in a group whose label holds at least ``consolidate_share`` of
   the pool, the completions that agree with it get an extra, uncentred advantage: a small supervised term on
   high-consensus traces (DiSCTT), which also reaches unanimous groups, where GRPO's centred advantage is 0.

The pool is the group's own completions plus any extra, untrained samples of the same prompt (``vote.pool_size``):
more samples make shares, and so rarity, less noisy. ``label="greedy"`` takes the model's own greedy answer as the
label instead of the pool's plurality: on weak models the greedy answer is right more often than any vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cuma_lite.answers import answers_equivalent
from cuma_lite.voting import equivalence_classes


@dataclass(frozen=True)
class Shaping:
    positive: float = 1.0
    """Reward for agreeing with the pseudo-label (TTRL: 1)."""
    ramp_from: float = 0.0
    """Label share below which agreement earns nothing."""
    ramp_to: float = 0.0
    """Label share from which agreement earns the full ``positive`` (linear in between; <= ramp_from: a step)."""
    negative: float = 0.0
    """Penalty for a rare or missing answer (0: none, TTRL)."""
    rare_share: float = 0.0
    """An answer whose share of the pool is at most this is rare (e.g. 0.125: seen once in 8)."""
    center: bool = True
    """Centre the scores within each group (GRPO, TTRL); False: the scores are the advantages."""
    label: Literal["plurality", "greedy"] = "plurality"
    """The pseudo-label: the pool's plurality answer (TTRL), or the policy's greedy answer."""
    consolidate: float = 0.0
    """Uncentred advantage added to completions agreeing with a high-consensus label (0: none)."""
    consolidate_share: float = 0.875
    """The label share from which a group's agreeing completions are consolidated (0.875: 7 of 8)."""

    @property
    def is_ttrl(self) -> bool:
        return self == Shaping()

    def ramp(self, share: float) -> float:
        """The share of ``positive`` that agreeing with a label of this share earns."""
        if share < self.ramp_from:
            return 0.0
        if self.ramp_to <= self.ramp_from or share >= self.ramp_to:
            return 1.0
        return (share - self.ramp_from) / (self.ramp_to - self.ramp_from)


@dataclass(frozen=True)
class GroupScores:
    scores: list[float]
    """Per trained completion: its reward (and, without centring, its advantage)."""
    label: str | None
    """The pseudo-label (the pool's plurality answer, first-occurring on a tie), None when nothing parses."""
    share: float
    """The label's share of the pool (unparsed answers count in the pool's size)."""
    agrees: tuple[bool, ...] = ()
    """Per trained completion: does its answer agree with the label?"""


def group_scores(
    trained: Sequence[str | None], extra: Sequence[str | None], shaping: Shaping, *, greedy: str | None = None
) -> GroupScores:
    """Scores of the ``trained`` completions' answers, with shares measured over ``trained + extra``; ``greedy``
    is the policy's greedy answer (the label when ``shaping.label == "greedy"``).

    >>> ttrl = group_scores(["3", "3", "5", "3"], [], Shaping())
    >>> ttrl.scores, ttrl.label, ttrl.share
    ([1.0, 1.0, 0.0, 1.0], '3', 0.75)
    >>> negatives = Shaping(positive=0.0, negative=1.0, rare_share=0.25, center=False)
    >>> group_scores(["3", "3", "5", None], ["3", "7", "3", "3"], negatives).scores
    [0.0, 0.0, -1.0, -1.0]
    """
    pool = [*trained, *extra]
    classes = equivalence_classes(pool)
    n = len(pool)
    class_of = {i: k for k, members in enumerate(classes) for i in members}
    sizes = [len(c) for c in classes]
    largest = max(sizes, default=0)
    winner = sizes.index(largest) if classes else None  # first-occurring class wins a tie, as in TTRL
    share = largest / n if n else 0.0
    label = pool[classes[winner][0]] if winner is not None else None
    if shaping.label == "greedy":
        winner = next(
            (k for k, c in enumerate(classes) if greedy and answers_equivalent(pool[c[0]], greedy)), None
        )
        label, share = (greedy or None), (sizes[winner] / n if winner is not None else 0.0)
    weight = shaping.positive * shaping.ramp(share)
    scores, agrees = [], []
    for i in range(len(trained)):
        k = class_of.get(i)
        agrees.append(k is not None and k == winner)
        score = weight if agrees[-1] else 0.0
        if shaping.negative and (k is None or sizes[k] / n <= shaping.rare_share):
            score -= shaping.negative
        scores.append(score)
    return GroupScores(scores, label, share, tuple(agrees))


def group_advantages(scored: GroupScores, shaping: Shaping) -> list[float]:
    """The advantages of one (unmasked) group's trained completions, as GRPO with ``scale_rewards=none`` would
    make them from the scores, plus consensus consolidation.

    >>> consolidating = Shaping(consolidate=0.25, consolidate_share=0.75)
    >>> group_advantages(group_scores(["3", "3", "5", "3"], [], consolidating), consolidating)
    [0.5, 0.5, -0.75, 0.5]
    >>> group_advantages(group_scores(["3", "3", "3", "3"], [], consolidating), consolidating)  # unanimous
    [0.25, 0.25, 0.25, 0.25]
    >>> group_advantages(group_scores(["3", "3", "5", "5"], [], consolidating), consolidating)  # share 0.5
    [0.5, 0.5, -0.5, -0.5]
    """
    scores = scored.scores
    mean = sum(scores) / len(scores) if scores else 0.0
    advantages = [s - mean for s in scores] if shaping.center else list(scores)
    if shaping.consolidate and scored.share >= shaping.consolidate_share:
        advantages = [a + shaping.consolidate * ok for a, ok in zip(advantages, scored.agrees, strict=True)]
    return advantages
