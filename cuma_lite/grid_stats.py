"""Statistics of the reproduction grid: paired bootstrap intervals over problems and seeds, and the claims.

Every run of a base is judged on the same held-out problems, so a method's change is a per-problem, per-seed
difference (after minus the base's before: -1, 0 or +1), and two methods compare problem by problem. The bootstrap
resamples problems and seeds with replacement, the same draws for every method of a base, so differences (to
TTRL) and ratios (to gold) are paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.mean, self.low, self.high]

    @property
    def above_zero(self) -> bool:
        return self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.high < 0

    def fmt(self, signed: bool = True) -> str:
        f = "{:+.3f}" if signed else "{:.3f}"
        return f"{f.format(self.mean)} ({f.format(self.low)}, {f.format(self.high)})"


def deltas(before: dict[str, bool], afters: Sequence[dict[str, bool]]) -> np.ndarray:
    """[seeds, problems] of after - before (problems in ``before``'s order)."""
    ids = list(before)
    base = np.array([before[i] for i in ids], dtype=float)
    return np.array([[after[i] for i in ids] for after in afters], dtype=float) - base


def _interval(values: np.ndarray, point: float, confidence: float = CONFIDENCE) -> Estimate:
    lo, hi = np.quantile(values, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return Estimate(float(point), float(lo), float(hi))


def bootstrap(
    per_method: dict[str, np.ndarray],
    *,
    reference: str | None,
    gold: str | None,
    draws: int = 2000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, dict[str, Estimate]]:
    """For each method (``[seeds, problems]`` deltas, same problems for all): its mean change, the difference to
    ``reference`` (TTRL) and the gold-normalised gain (change / ``gold``'s change), each with a paired ``confidence``
    percentile interval. Methods may have fewer seeds than others: seeds are drawn from each method's own."""
    rng = np.random.default_rng(seed)
    n_problems = next(iter(per_method.values())).shape[1]
    problem_draws = rng.integers(0, n_problems, size=(draws, n_problems))
    seed_draws = {m: rng.integers(0, d.shape[0], size=(draws, d.shape[0])) for m, d in per_method.items()}
    samples: dict[str, np.ndarray] = {}
    for m, d in per_method.items():
        per_seed = d[:, problem_draws].mean(
            axis=2
        )  # [seeds, draws]: each seed's mean over the drawn problems
        samples[m] = np.take_along_axis(per_seed.T, seed_draws[m], axis=1).mean(axis=1)  # [draws]
    out: dict[str, dict[str, Estimate]] = {}
    for m, d in per_method.items():
        row = {"change": _interval(samples[m], d.mean(), confidence)}
        if reference in per_method and m != reference:
            row["vs_reference"] = _interval(
                samples[m] - samples[reference], d.mean() - per_method[reference].mean(), confidence
            )
        if gold in per_method and m != gold:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = samples[m] / samples[gold]
            ratio = ratio[np.isfinite(ratio)]
            point = d.mean() / per_method[gold].mean() if per_method[gold].mean() else float("nan")
            row["gold_normalised"] = (
                _interval(ratio, point, confidence) if ratio.size else Estimate(point, np.nan, np.nan)
            )
        out[m] = row
    return out


def one_way(
    d: np.ndarray,
    over: Literal["seeds", "problems"],
    *,
    draws: int = 2000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Estimate:
    """The mean change of ``[seeds, problems]`` deltas with an interval from resampling one axis only, the other
    held fixed: ``over="problems"`` is what more seeds cannot narrow, ``over="seeds"`` what more problems cannot."""
    axis = {"seeds": 1, "problems": 0}[over]  # average out the axis held fixed
    units = d.mean(axis=axis)
    rng = np.random.default_rng(seed)
    means = units[rng.integers(0, units.size, size=(draws, units.size))].mean(axis=1)
    return _interval(means, float(d.mean()), confidence)


def targets(
    table: dict[str, dict[str, dict[str, Estimate]]], strength: dict[str, float], candidate: str
) -> dict[str, Any]:
    """The science issue's four targets for ``candidate``, judged on ``table[base][method]``:

    (i) it never hurts: no base where its change is below 0 with the interval excluding 0;
    (ii) never worse than TTRL: on every base the interval of the difference reaches 0 or above;
    (iii) it helps lower down: positive (interval above 0) on a base weaker than the weakest where TTRL is;
    (iv) on the strongest base it recovers at least half of gold's gain.
    """
    bases = sorted((b for b in table if candidate in table[b]), key=lambda b: strength[b])
    rows = {b: table[b][candidate] for b in bases}
    hurts = [b for b in bases if rows[b]["change"].below_zero]
    worse = [b for b in bases if "vs_reference" in rows[b] and rows[b]["vs_reference"].high < 0]
    ttrl_helps = [b for b in bases if "ttrl" in table[b] and table[b]["ttrl"]["change"].above_zero]
    below = [b for b in bases if not ttrl_helps or strength[b] < strength[ttrl_helps[0]]]
    helps_below = [b for b in below if rows[b]["change"].above_zero]
    top = bases[-1] if bases else None
    recovered = rows[top].get("gold_normalised") if top else None
    return {
        "i_never_hurts": {"holds": not hurts, "bases_where_it_hurts": hurts},
        "ii_never_worse_than_ttrl": {"holds": not worse, "bases_where_worse": worse},
        "iii_helps_lower_down": {
            "holds": bool(helps_below),
            "weakest_base_where_ttrl_helps": ttrl_helps[0] if ttrl_helps else None,
            "bases_where_it_helps_below_that": helps_below,
        },
        "iv_recovers_half_of_gold_at_the_top": {
            "holds": bool(recovered is not None and recovered.mean >= 0.5),
            "base": top,
            "gold_normalised": recovered.as_list() if recovered else None,
        },
    }
