"""Will label-free RL help this model on these prompts? Statistics of sampled answers, before any training.

Pure: it works on answers already sampled (``cuma-lite probe`` samples them, :mod:`cuma_lite.probe`). For each
prompt: the greedy answer, K sampled answers and, on a dev subset, the gold answer (to grade, and for gold's
advantages).

- **Label quality**: greedy accuracy; the plurality label's accuracy for pools of several sizes; the label's precision
  and coverage by agreement share; how often an answer seen rarely in the pool is wrong.
- **Mode-shift budget** of a gate: over the prompts it trains on, the mean of (label right) - (greedy right): what
  greedy accuracy would become if every trained prompt's mode moved to its label.
- **Gold alignment** of a training setting: simulate its groups from the samples, compute the advantages it would
  give each completion and those the *gold* reward would give, and project: ``alignment = sum(A * A_gold) /
  sum(A_gold ** 2)``. GRPO's update is ``sum_i A_i grad log p(y_i)``, so to first order (distinct completions'
  gradients roughly orthogonal) a setting moves the model along the gold reward's update by ``alignment``: its
  predicted gain is ``alignment`` times gold's (the *gold-normalised* gain), negative when it pushes the wrong way.
  Unlike the budget it counts every completion's push, so it sees what training some prompts does to others.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from cuma_lite.answers import grade
from cuma_lite.shaping import Shaping, group_advantages, group_scores
from cuma_lite.voting import majority_vote

SHARE_BINS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0001)
HELP_AT = 0.42
"""Gold alignment from which the probe says "will help". Chosen on the validation grid of ``cuma-lite repro``
(TTRL and the greedy label on five bases, 3 seeds): every cell forecast at >= 0.426 improved held-out accuracy with
its interval above 0, none forecast at <= 0.408 did. Below it a gain may exist but is too small to show at 40
steps: the forecast is a share of gold's gain, which the probe cannot know."""


@dataclass
class PromptSamples:
    samples: list[str | None]
    """K sampled final answers (None: no answer)."""
    greedy: str | None = None
    gold: str | None = None
    level: int | None = None
    _right: list[bool] | None = field(default=None, repr=False)

    def right(self) -> list[bool]:
        """Per sample: is it the gold answer? (needs ``gold``)."""
        if self._right is None:
            assert self.gold is not None
            self._right = [grade(a, self.gold).correct for a in self.samples]
        return self._right

    def greedy_right(self) -> bool:
        return self.gold is not None and grade(self.greedy, self.gold).correct


@dataclass(frozen=True)
class Setting:
    """The parts of a training setting that decide its advantages (``vote.*``, ``reward.*``, the group size)."""

    name: str
    group: int = 8
    min_share: float = 0.0
    pool: int = 0
    """Extra untrained samples the vote is taken over (``vote.pool_size``)."""
    shaping: Shaping = field(default_factory=Shaping)
    gold: bool = False
    """The supervised control (agreement with the gold answer)."""


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def label_right(p: PromptSamples, answers: Sequence[str | None]) -> bool:
    vote = majority_vote(answers, min_share=0.0)
    return vote.label is not None and grade(vote.label, p.gold or "").correct


def label_quality(
    prompts: Sequence[PromptSamples], pool_sizes: Sequence[int] = (4, 8, 16, 32)
) -> dict[str, float]:
    """Greedy accuracy and the plurality label's accuracy for pools of the first n samples (prompts with gold)."""
    graded = [p for p in prompts if p.gold is not None]
    out = {"greedy": _mean([float(p.greedy_right()) for p in graded])}
    for n in pool_sizes:
        if all(len(p.samples) >= n for p in graded):
            out[f"plurality@{n}"] = _mean([float(label_right(p, p.samples[:n])) for p in graded])
    out["mean@k"] = _mean([_mean([float(r) for r in p.right()]) for p in graded])
    out["pass@k"] = _mean([float(any(p.right())) for p in graded])
    return out


def precision_by_share(
    prompts: Sequence[PromptSamples], bins: Sequence[float] = SHARE_BINS
) -> list[dict[str, float]]:
    """Per agreement-share bin of the plurality label: precision (label right) and coverage (share of prompts)."""
    rows = []
    votes = [(p, majority_vote(p.samples, min_share=0.0)) for p in prompts]
    for lo, hi in itertools.pairwise(bins):
        inside = [(p, v) for p, v in votes if lo <= v.share < hi]
        graded = [(p, v) for p, v in inside if p.gold is not None]
        rows.append(
            {
                "from": lo,
                "to": min(hi, 1.0),
                "coverage": len(inside) / len(votes) if votes else float("nan"),
                "precision": _mean(
                    [float(v.label is not None and grade(v.label, p.gold).correct) for p, v in graded]
                ),
            }
        )
    return rows


def rare_answers(prompts: Sequence[PromptSamples], rare_share: float) -> dict[str, float]:
    """Answers whose share of their prompt's K samples is at most ``rare_share``: how many, how often wrong."""
    flagged, wrong = 0, 0
    total = 0
    for p in prompts:
        if p.gold is None:
            continue
        counts = _class_counts(p.samples)
        for a, r, c in zip(p.samples, p.right(), counts, strict=True):
            total += 1
            if a is None or c / len(p.samples) <= rare_share:
                flagged += 1
                wrong += not r
    return {"rare_share": rare_share, "flagged": flagged / total if total else float("nan"),
            "wrong_when_flagged": wrong / flagged if flagged else float("nan")}  # fmt: skip


def _class_counts(answers: Sequence[str | None]) -> list[int]:
    vote = majority_vote(answers, min_share=0.0)
    size = {i: len(c) for c in vote.classes for i in c}
    return [size.get(i, 0) for i in range(len(answers))]


def mode_shift_budget(prompts: Sequence[PromptSamples], min_share: float = 0.0) -> float:
    """Mean over graded prompts of (label right) - (greedy right), on the prompts a ``min_share`` gate keeps."""
    total = 0.0
    graded = [p for p in prompts if p.gold is not None]
    for p in graded:
        vote = majority_vote(p.samples, min_share=min_share)
        if not vote.masked:
            total += float(grade(vote.label, p.gold).correct) - float(p.greedy_right())
    return total / len(graded) if graded else float("nan")


@dataclass(frozen=True)
class Alignment:
    setting: str
    alignment: float
    """sum(A * A_gold) / sum(A_gold ** 2): the setting's predicted gain as a share of gold's."""
    interval: tuple[float, float]
    """95% bootstrap interval over prompts."""
    cosine: float
    """How much of the setting's push is along gold's (1: all of it; 0: none; below 0: against it)."""
    active: float
    """Share of simulated groups that get any gradient."""

    def verdict(self, help_at: float = HELP_AT) -> str:
        lo, hi = self.interval
        if self.alignment >= help_at and lo > 0:
            return "will help"
        if hi < 0:
            return "will not help"
        return "unclear"


def setting_advantages(
    setting: Setting,
    trained: list[str | None],
    extra: list[str | None],
    right: list[bool],
    greedy: str | None = None,
) -> list[float]:
    """The advantages ``setting`` gives the ``trained`` completions of one group (scale_rewards=none)."""
    if setting.gold:
        scores = [float(r) for r in right]
        return centred(scores)
    if majority_vote([*trained, *extra], min_share=setting.min_share).masked:
        return [0.0] * len(trained)
    return group_advantages(group_scores(trained, extra, setting.shaping, greedy=greedy), setting.shaping)


def centred(scores: list[float]) -> list[float]:
    """A group's scores minus their mean: GRPO's advantages without scaling."""
    mean = _mean(scores)
    return [s - mean for s in scores]


def _by_answer(values: Sequence[float], answers: Sequence[str | None]) -> list[float]:
    """Advantages summed over completions with the same answer: identical answers of a tiny model are mostly
    identical chains, whose gradients add up rather than being orthogonal."""
    classes = majority_vote(answers, min_share=0.0).classes
    grouped = [sum(values[i] for i in c) for c in classes]
    loose = [
        v for i, (v, a) in enumerate(zip(values, answers, strict=True)) if not any(i in c for c in classes)
    ]
    return grouped + loose


def gold_alignment(
    prompts: Sequence[PromptSamples],
    setting: Setting,
    *,
    resamples: int = 4,
    seed: int = 0,
    boot: int = 300,
    by: str = "answer",
    weights: Sequence[float] | None = None,
) -> Alignment:
    """Simulate ``resamples`` groups a prompt from its samples and project the setting's advantages on gold's,
    per completion (``by="completion"``) or per answer (``by="answer"``).

    ``weights`` (one a prompt, mean 1 for a distribution over prompts): how much more often than uniformly the
    setting trains each prompt, e.g. a curriculum's draw probabilities times the number of prompts; gold's update,
    the yardstick, stays uniform (it stands for held-out accuracy)."""
    rng = random.Random(seed)
    if weights is not None and len(weights) != len(prompts):
        raise ValueError(
            f"gold_alignment: {len(weights)} weights for {len(prompts)} prompts; give one a prompt."
        )
    scale = [1.0] * len(prompts) if weights is None else [float(w) for w in weights]
    usable = [
        (p, w)
        for p, w in zip(prompts, scale, strict=True)
        if p.gold is not None and len(p.samples) >= setting.group + setting.pool
    ]
    per_prompt = []  # (sum A*Ag, sum Ag^2, sum A^2, active groups), the setting's A scaled by its prompt's weight
    gold = Setting("gold", group=setting.group, gold=True)
    for p, w in usable:
        right = p.right()
        cross = gg = mm = active = 0.0
        for _ in range(resamples):
            idx = rng.sample(range(len(p.samples)), setting.group + setting.pool)
            trained, extra = idx[: setting.group], idx[setting.group :]
            a = setting_advantages(setting, [p.samples[i] for i in trained], [p.samples[i] for i in extra],
                                   [right[i] for i in trained], p.greedy)  # fmt: skip
            g = setting_advantages(gold, [], [], [right[i] for i in trained])
            if by == "answer":
                answers = [p.samples[i] for i in trained]
                a, g = _by_answer(a, answers), _by_answer(g, answers)
            cross += w * sum(x * y for x, y in zip(a, g, strict=True))
            gg += sum(y * y for y in g)
            mm += w * w * sum(x * x for x in a)
            active += any(a)
        per_prompt.append((cross, gg, mm, active / resamples))

    def ratio(rows: Sequence[tuple[float, float, float, float]]) -> float:
        gg = sum(r[1] for r in rows)
        return sum(r[0] for r in rows) / gg if gg else 0.0

    estimate = ratio(per_prompt)
    boot_rng = random.Random(seed + 1)
    draws = (
        sorted(ratio([boot_rng.choice(per_prompt) for _ in per_prompt]) for _ in range(boot))
        if per_prompt
        else []
    )
    interval = (draws[int(0.025 * boot)], draws[int(0.975 * boot) - 1]) if draws else (math.nan, math.nan)
    mm, gg = sum(r[2] for r in per_prompt), sum(r[1] for r in per_prompt)
    cosine = sum(r[0] for r in per_prompt) / math.sqrt(mm * gg) if mm and gg else 0.0
    return Alignment(
        setting.name,
        estimate,
        interval,
        cosine,
        statistics.fmean(r[3] for r in per_prompt) if per_prompt else 0.0,
    )
