"""The curriculum: which difficulty levels a label-free RL step draws its prompts from.

CuMa's finding: a weak model improves only on problems where its majority vote means something, so training starts
on the easiest levels and brings harder ones in as it goes. :class:`CurriculumScheduler` holds the schedule
(``curriculum.mode``: off, stages, pacing, adaptive or band; each setting's help is in
:class:`~cuma_lite.config.CurriculumConfig`). The trainer calls ``draw(step, n)`` for each generation batch and
``observe(levels, masked, agreement)`` with each group's vote (the adaptive mode reads the mask rates, the band mode
the agreement: the label's share of the group's samples, label-free). Everything random comes from one seeded
``random.Random`` and ``state_dict()`` holds all of it, so a resumed run continues identically.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from typing import Any

from cuma_lite.config.schema import CurriculumConfig

logger = logging.getLogger(__name__)

STATE_VERSION = 1
CURRICULUM_STATE = "curriculum_state.json"
"""The file, inside each trainer checkpoint, that holds the scheduler's state (the last file a save writes)."""


def competence(progress: float, pacing: str, start: float) -> float:
    """Platanios et al. (2019) competence c(t) in (0, 1] at ``progress = t/T`` (clamped to [0, 1])."""
    t = min(max(progress, 0.0), 1.0)
    if pacing == "linear":
        return min(1.0, start + (1.0 - start) * t)
    return min(1.0, math.sqrt(start**2 + (1.0 - start**2) * t))


def difficulty_levels(difficulties: Sequence[int | float], num_levels: int = 5) -> list[int]:
    """Each item's integer level: integers as they are; floats by quantile bin, ``floor(num_levels * share of items
    strictly easier)``, so bins hold about equal numbers of items and equal difficulties share a level."""
    _check_difficulties(difficulties)
    if all(isinstance(d, int) for d in difficulties):
        return [int(d) for d in difficulties]
    ordered = sorted(difficulties)
    n = len(ordered)
    # bisect_left = the number of items strictly easier, so ties always land in the same bin.
    return [num_levels * bisect_left(ordered, d) // n for d in difficulties]


def _check_difficulties(difficulties: Sequence[int | float]) -> None:
    if len(difficulties) == 0:
        raise ValueError("the curriculum needs at least one item; the difficulty list is empty.")
    for i, d in enumerate(difficulties):
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d):
            raise ValueError(
                f"item {i} has difficulty {d!r}; difficulties must be finite numbers (a level like 3, or a float)."
            )


class CurriculumScheduler:
    """Draws prompt indices for each optimisation step according to a :class:`CurriculumConfig`."""

    def __init__(
        self,
        difficulties: Sequence[int | float],
        config: CurriculumConfig | None = None,
        *,
        total_steps: int,
        seed: int,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps={total_steps} must be >= 1 (the number of optimisation steps).")
        self.config = config if config is not None else CurriculumConfig()
        self.total_steps = total_steps
        self.seed = seed
        self.item_levels: list[int] = difficulty_levels(difficulties, self.config.num_levels)
        self.levels: list[int] = sorted(set(self.item_levels))
        self._by_level: dict[int, list[int]] = {lvl: [] for lvl in self.levels}
        for i, lvl in enumerate(self.item_levels):
            self._by_level[lvl].append(i)
        self._rng = random.Random(seed)
        order = list(range(len(difficulties)))
        self._rng.shuffle(order)
        order.sort(key=lambda i: difficulties[i])  # stable: ties keep the seeded shuffle order
        self._by_difficulty = order
        self._fingerprint = hashlib.sha256(repr(list(difficulties)).encode()).hexdigest()[:16]
        self._used: set[int] = set()  # items already drawn in the current pass of their pool
        self._unlocked = 1  # adaptive: how many levels are unlocked
        self._unlocked_at = 0  # adaptive: the step at which the newest level was unlocked
        self._windows: dict[int, deque[bool]] = {lvl: deque(maxlen=self.config.window) for lvl in self.levels}
        self._agreement: dict[int, deque[float]] = {
            lvl: deque(maxlen=self.config.window) for lvl in self.levels
        }
        self._reuse_logged: set[str] = set()
        self._last_active: list[int] | None = None

    # ---- queries (pure: they never change the schedule) -------------------------------------------------------

    def level_of(self, index: int) -> int:
        """The curriculum level of item ``index`` (what ``observe`` expects)."""
        return self.item_levels[index]

    def active_levels(self, step: int) -> list[int]:
        """The levels ``draw(step, n)`` would draw from now, easiest first."""
        _check_step(step)
        mode = self.config.mode
        if mode == "off":
            return list(self.levels)
        if mode == "stages":
            unlocked = min(len(self.levels), step * len(self.levels) // self.total_steps + 1)
            return self.levels[:unlocked]
        if mode == "pacing":
            return sorted({self.item_levels[i] for i in self._pacing_pool(step)})
        if mode == "band":  # every level keeps a weight >= band_floor: all of them can be drawn
            return list(self.levels)
        return self.levels[: self._adaptive_unlocked(step)]

    def active_items(self, step: int) -> list[int]:
        """Indices of every item ``draw(step, n)`` could return now (the union of its pools)."""
        if self.config.mode == "pacing":
            return sorted(self._pacing_pool(step))
        return sorted(i for lvl in self.active_levels(step) for i in self._by_level[lvl])

    def curriculum_stage(self, step: int) -> str:
        """A short name for logging, e.g. ``stages:1-3`` (mode, easiest and newest active level)."""
        active = self.active_levels(step)
        return f"{self.config.mode}:{active[0]}-{active[-1]}"

    def band_weights(self) -> dict[int, float]:
        """``band``: each level's draw weight, ``max(band_floor, (in + 1) / (n + 2))`` over its last ``window``
        groups, ``in`` of ``n`` with agreement in ``[band_low, band_high]``. The +1/+2 (Laplace's rule) makes an
        unseen level weigh 1/2, so a level is not dropped on its first one or two groups.

        >>> from cuma_lite.config import CurriculumConfig
        >>> sched = CurriculumScheduler([1, 1, 2, 2], CurriculumConfig(mode="band"), total_steps=4, seed=0)
        >>> sched.observe([1, 1, 2], [False] * 3, agreement=[0.5, 0.625, 1.0])
        >>> sched.band_weights()
        {1: 0.75, 2: 0.3333333333333333}
        """
        cfg, weights = self.config, {}
        for lvl, window in self._agreement.items():
            inside = sum(cfg.band_low <= a <= cfg.band_high for a in window)
            weights[lvl] = max(cfg.band_floor, (inside + 1) / (len(window) + 2))
        return weights

    def mask_rate(self, level: int) -> float | None:
        """The share of masked groups among the last ``window`` observations of ``level`` (None if none yet)."""
        window = self._windows[level]
        return sum(window) / len(window) if window else None

    # ---- drawing and feedback ---------------------------------------------------------------------------------

    def draw(self, step: int, n: int) -> list[int]:
        """Indices of the ``n`` prompts for optimisation step ``step``; advances the schedule and the RNG."""
        _check_step(step)
        if n < 0:
            raise ValueError(f"n={n} must be >= 0 (prompts per step).")
        if self.config.mode == "adaptive":
            self._commit_unlock(step)
        self._log_if_changed(step)
        mode = self.config.mode
        if mode == "off":
            return self._take(range(len(self.item_levels)), n, "all items")
        if mode == "pacing":
            return self._take(self._pacing_pool(step), n, "pacing pool")
        if mode == "band":
            return self._draw_band(n)
        return self._draw_with_replay(self.active_levels(step), n)

    def observe(
        self,
        levels: int | Sequence[int],
        masked: bool | Sequence[bool],
        agreement: float | Sequence[float] | None = None,
    ) -> None:
        """Record the groups of prompts at ``levels``: whether each was masked (no clear majority) and, when given,
        its ``agreement`` (the label's share of its samples, in [0, 1]); one group or many."""
        if isinstance(levels, int):
            if isinstance(masked, Sequence) or isinstance(agreement, Sequence):
                raise ValueError("observe(level, masked): one level takes one bool; pass a list of levels.")
            levels, masked = [levels], [bool(masked)]
            agreement = None if agreement is None else [agreement]
        levels, masked = list(levels), list(masked)  # also accepts arrays and other iterables
        if len(levels) != len(masked):
            raise ValueError(
                f"observe() got {len(levels)} levels and {len(masked)} masked flags; pass one flag per level."
            )
        shares = None if agreement is None else [float(a) for a in agreement]
        if shares is not None and len(shares) != len(levels):
            raise ValueError(
                f"observe() got {len(levels)} levels and {len(shares)} agreement shares; pass one per level."
            )
        if shares is not None and not all(0.0 <= a <= 1.0 for a in shares):
            raise ValueError(f"observe(): agreement shares must lie in [0, 1]; got {shares}.")
        unknown = sorted({lvl for lvl in levels if lvl not in self._windows})
        if unknown:
            raise ValueError(
                f"level(s) {unknown} are not among this curriculum's levels {self.levels}; "
                "pass scheduler.level_of(index) for each drawn index."
            )
        for level, flag in zip(levels, masked, strict=True):
            self._windows[level].append(bool(flag))
        for level, share in zip(levels, shares or [], strict=False):
            self._agreement[level].append(share)

    # ---- checkpointing ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically after a restart; JSON-serialisable."""
        version, internal, gauss_next = self._rng.getstate()
        return {
            "version": STATE_VERSION,
            "mode": self.config.mode,
            "seed": self.seed,
            "fingerprint": self._fingerprint,
            "rng": [version, list(internal), gauss_next],
            "used": sorted(self._used),
            "unlocked": self._unlocked,
            "unlocked_at": self._unlocked_at,
            "windows": [[lvl, list(window)] for lvl, window in self._windows.items()],
            "agreement": [[lvl, list(window)] for lvl, window in self._agreement.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the scheduler must be built from the same items, mode and seed."""
        expected = {
            "version": STATE_VERSION,
            "mode": self.config.mode,
            "seed": self.seed,
            "fingerprint": self._fingerprint,
        }
        for key, value in expected.items():
            if state.get(key) != value:
                raise ValueError(
                    f"curriculum state has {key}={state.get(key)!r} but this scheduler has {value!r}; "
                    "resume with the same data, curriculum.mode and seed as the run that saved it."
                )
        version, internal, gauss_next = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss_next))
        self._used = set(state["used"])
        self._unlocked = int(state["unlocked"])
        self._unlocked_at = int(state["unlocked_at"])
        for lvl, window in state["windows"]:
            self._windows[lvl] = deque((bool(f) for f in window), maxlen=self.config.window)
        for lvl, window in state.get("agreement", []):  # absent in states saved before the band mode
            self._agreement[lvl] = deque((float(a) for a in window), maxlen=self.config.window)

    # ---- internals --------------------------------------------------------------------------------------------

    def _pacing_pool(self, step: int) -> list[int]:
        n = len(self._by_difficulty)
        c = competence(step / self.total_steps, self.config.pacing, self.config.start_competence)
        size = max(1, min(n, math.ceil(c * n - 1e-9)))  # the epsilon keeps 0.55 * 100 at 55, not 56
        return self._by_difficulty[:size]

    def _adaptive_unlocked(self, step: int) -> int:
        """How many levels are unlocked at ``step``: the committed count, plus one if a condition now holds."""
        cfg, count = self.config, self._unlocked
        if count >= len(self.levels):
            return count
        rate = self.mask_rate(self.levels[count - 1])
        window = self._windows[self.levels[count - 1]]
        calm = rate is not None and len(window) >= cfg.min_observations and rate < cfg.mask_threshold
        dwelt = cfg.max_dwell is not None and step - self._unlocked_at >= cfg.max_dwell
        return count + 1 if calm or dwelt else count

    def _commit_unlock(self, step: int) -> None:
        unlocked = self._adaptive_unlocked(step)
        if unlocked > self._unlocked:
            previous = self.levels[self._unlocked - 1]
            logger.info(
                "curriculum: step %d unlocks level %s (level %s mask rate %s over %d observations, %d steps)",
                step,
                self.levels[unlocked - 1],
                previous,
                self.mask_rate(previous),
                len(self._windows[previous]),
                step - self._unlocked_at,
            )
            self._unlocked, self._unlocked_at = unlocked, step

    def _draw_with_replay(self, active: list[int], n: int) -> list[int]:
        """``stages``/``adaptive``: ``replay * n`` prompts (rounded stochastically, so exact in expectation) from the
        easier unlocked levels, uniform over their items; the rest from the newest level."""
        newest, easier = active[-1], active[:-1]
        n_replay = self._replay_count(n) if easier else 0
        batch = self._take(self._by_level[newest], n - n_replay, f"level {newest}")
        if n_replay:
            replay_pool = [i for lvl in easier for i in self._by_level[lvl]]
            batch += self._take(replay_pool, n_replay, f"replay levels {easier[0]}-{easier[-1]}")
        self._rng.shuffle(batch)  # replay items are not always at the end of the batch
        return batch

    def _draw_band(self, n: int) -> list[int]:
        """``band``: each of the ``n`` prompts picks its level with probability proportional to
        :meth:`band_weights`, then the levels' items are taken as usual (each once per pass)."""
        weights = self.band_weights()
        picks = self._rng.choices(self.levels, weights=[weights[lvl] for lvl in self.levels], k=n)
        batch = []
        for lvl in self.levels:
            if k := picks.count(lvl):
                batch += self._take(self._by_level[lvl], k, f"level {lvl}")
        self._rng.shuffle(batch)
        return batch

    def _replay_count(self, n: int) -> int:
        expected = self.config.replay * n
        whole = math.floor(expected)
        fraction = expected - whole
        return whole + (1 if fraction > 0 and self._rng.random() < fraction else 0)

    def _take(self, pool: Sequence[int], k: int, name: str) -> list[int]:
        """``k`` items of ``pool``, without replacement within a pass (like an epoch); a finished pass starts the
        next one, so sampling never starves. A draw repeats an item only when it asks for more than the pool holds."""
        out: list[int] = []
        chosen: set[int] = set()
        while len(out) < k:
            if len(chosen) >= len(pool):  # the batch already holds the whole pool: repeats are unavoidable
                chosen.clear()
            if all(i in self._used for i in pool):
                self._start_pass(pool, name)
            fresh = [i for i in pool if i not in self._used and i not in chosen]
            if not fresh:  # cannot happen by the two resets above; guarantees progress regardless
                fresh = [i for i in pool if i not in self._used]
            picked = self._rng.sample(fresh, min(k - len(out), len(fresh)))
            self._used.update(picked)
            chosen.update(picked)
            out.extend(picked)
        return out

    def _start_pass(self, pool: Sequence[int], name: str) -> None:
        if name not in self._reuse_logged:
            self._reuse_logged.add(name)
            logger.info(
                "curriculum: every item of %s (%d items) has been drawn; reshuffling and reusing it "
                "(each item once per pass)",
                name,
                len(pool),
            )
        self._used.difference_update(pool)

    def _log_if_changed(self, step: int) -> None:
        active = self.active_levels(step)
        if active != self._last_active:
            logger.info("curriculum (%s): step %d draws from levels %s", self.config.mode, step, active)
            self._last_active = active


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"step={step} must be >= 0.")
