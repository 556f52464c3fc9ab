"""A label-free collapse guard: stop label-free RL when it starts to eat itself, and give back the last sound weights.

Self-rewarding training collapses when pushed too hard (too high a learning rate, too long): the policy converges
on confident answers, right or wrong, or dissolves. The signals, label-free, each against its value over the first
``window`` steps:

- **entropy** of the rollouts' tokens leaves ``entropy_range`` x its start (collapse below, dissolving above);
- **agreement**: the groups' majority share climbs above ``share_ceiling`` (from below it), or falls below
  ``share_floor`` x its start (the policy stops agreeing with itself);
- **lost answers**: the share of completions that state an answer falls below ``parse_floor`` of its start;
- **length** of the completions leaves ``length_range`` x its start;
- **answer churn**: every ``window`` steps the policy answers a fixed set of unlabelled prompts greedily
  (``train.guard_prompts`` of the training prompts) and counts the share of answers that changed since the last
  check. Sound training settles: its churn falls as it learns. An alarm when the churn does not settle (two checks
  in a row above ``churn_settle`` x the first check's) or surges again (above ``churn_surge`` x its lowest so far),
  above ``churn_floor`` either way. A collapse that leaves the sampled rollouts' statistics alone (TTRL at lr 1e-4:
  the same agreement, on worse answers) shows here.
- **drift from the start**: at the same checks, how unlikely the *start's* weights find the policy's greedy
  completions (their mean negative log-likelihood). A label-free reward can only re-weight what the start already
  writes (its labels come from its own answers), so greedy completions the start finds far less likely than its own
  are moves no label vouched for. An alarm when it rises above ``1 + drift_ceiling`` x its value at the start. It
  is the one signal we found that moves *ahead* of held-out accuracy: the collapses at lr 1e-4 on r3 are 35-55%
  away when held-out accuracy peaks, while label-free runs at lr 2e-5 stay within 18% over 40 steps and reach
  10-28% by step 80 (docs/experiments.md): a budget, which long runs must raise (``train.guard_drift``). Off for
  a gold reward, whose labels do vouch for its moves (gold at lr 5e-5 drifts 25% in 15 steps while it learns).

Under a curriculum the rollout signals move as harder levels unlock (they warned falsely on all 7 such runs we
have, none of which collapsed), so there the guard watches the churn and the drift alone (``rollouts=False``).
What it cannot do (docs/experiments.md): tell a fast sound label-free run from a fast collapse (it stopped TTRL at
lr 5e-5 on r4, which was learning, as it stops the same run on r3, which collapsed); see a slow slide (TTRL at 2e-5
on r1 lost 0.03 from its peak over 80 steps, its drift 1.10x). The margins are thin: two collapses fire at
1.25-1.26x, sound runs reach 1.25-1.28x by step 75-80.

A rollout signal counts when its mean over the last ``window`` steps crosses the line. ``train.collapse_guard=warn``
logs it; ``stop`` ends training and restores the trainable weights of a snapshot taken a window before the last
quiet one (snapshots every ``window`` steps while the signals are quiet; the signals are window means, so they
lag).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardLimits:
    window: int = 5
    entropy_range: tuple[float, float] = (0.5, 1.5)
    """Token entropy, as a multiple of its start: below = confidence collapse, above = the policy dissolving."""
    share_ceiling: float = 0.95
    """Majority share (absolute) above which agreement has saturated."""
    share_floor: float = 0.75
    """Majority share, as a multiple of its start, below which the policy stops agreeing with itself."""
    parse_floor: float = 0.8
    length_range: tuple[float, float] = (0.67, 1.5)
    churn_surge: float = 1.5
    """Answer churn (share of greedy answers changed a check), as a multiple of its lowest so far."""
    churn_settle: float = 0.7
    """Churn that stays at this multiple of the first check's or above, two checks in a row, has not settled."""
    churn_floor: float = 0.15
    """Churn below which nothing is an alarm: answers that change this little are not a collapse."""
    drift_ceiling: float = 0.25
    """Mean NLL of the policy's greedy completions under the start's weights, as a rise over the start's own."""


@dataclass(frozen=True)
class Look:
    """One look at the policy on the guard's fixed unlabelled prompts."""

    answers: list[str | None]
    """Its greedy answers."""
    nll: float | None = None
    """Mean negative log-likelihood (nats) of its greedy completions under the start's weights (None: not measured)."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def alarms(history: Sequence[dict[str, float]], limits: GuardLimits = GuardLimits()) -> list[str]:
    """What the last ``window`` steps of ``history`` (``metrics.jsonl`` records) say is collapsing; [] when sound.

    >>> calm = [{"entropy": 1.0, "majority_share": 0.4, "parse_rate": 1.0, "completion_length": 30}] * 10
    >>> alarms(calm)
    []
    >>> alarms(calm + [{"entropy": 0.3, "majority_share": 0.99, "parse_rate": 1.0, "completion_length": 30}] * 5)
    ['entropy 0.30 outside [0.5, 1.5] x its start 1.00', 'majority share 0.99 > 0.95']
    """
    w = limits.window
    if len(history) < 2 * w:
        return []
    start, recent = history[:w], history[-w:]

    def mean(rows: Sequence[dict[str, float]], key: str) -> float | None:
        values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        return _mean(values) if values else None

    found = []
    e0, e = mean(start, "entropy"), mean(recent, "entropy")
    if e0 and e is not None and not limits.entropy_range[0] * e0 <= e <= limits.entropy_range[1] * e0:
        found.append(f"entropy {e:.2f} outside {list(limits.entropy_range)} x its start {e0:.2f}")
    s0, s = mean(start, "majority_share"), mean(recent, "majority_share")
    if s0 is not None and s is not None and s0 < limits.share_ceiling < s:
        found.append(f"majority share {s:.2f} > {limits.share_ceiling:g}")
    if s0 and s is not None and s < limits.share_floor * s0:
        found.append(f"majority share {s:.2f} < {limits.share_floor:g} x its start {s0:.2f}")
    p0, p = mean(start, "parse_rate"), mean(recent, "parse_rate")
    if p0 and p is not None and p < limits.parse_floor * p0:
        found.append(f"parse rate {p:.2f} < {limits.parse_floor:g} x its start {p0:.2f}")
    l0, ln = mean(start, "completion_length"), mean(recent, "completion_length")
    lo, hi = limits.length_range
    if l0 and ln is not None and not lo * l0 <= ln <= hi * l0:
        found.append(f"completion length {ln:.0f} outside [{lo:g}, {hi:g}] x its start {l0:.0f}")
    return found


def churn(before: Sequence[str | None], now: Sequence[str | None]) -> float:
    """Share of prompts whose answer changed (no answer counts as an answer).

    >>> churn(["1", "2", None, "4"], ["1", "3", None, "5"])
    0.5
    """
    return sum(a != b for a, b in zip(before, now, strict=True)) / len(now) if now else 0.0


def churn_alarm(churns: Sequence[float], limits: GuardLimits = GuardLimits()) -> list[str]:
    """What the churn of each check so far says at the last one: [] while it settles.

    >>> churn_alarm([0.33, 0.20, 0.16, 0.15, 0.17])  # settling
    []
    >>> churn_alarm([0.33, 0.20, 0.16, 0.15, 0.17, 0.31])
    ['answer churn 0.31 > 1.5 x its lowest 0.15']
    >>> churn_alarm([0.43, 0.42, 0.31])
    ['answer churn 0.42, 0.31 not settling: >= 0.7 x its first 0.43']
    """
    if len(churns) < 2:
        return []
    low, last = min(churns[:-1]), churns[-1]
    if last > limits.churn_floor and last > limits.churn_surge * low:
        return [f"answer churn {last:.2f} > {limits.churn_surge:g} x its lowest {low:.2f}"]
    recent = churns[-2:]
    if len(churns) >= 3 and all(
        c > limits.churn_floor and c >= limits.churn_settle * churns[0] for c in recent
    ):
        shown = ", ".join(f"{c:.2f}" for c in recent)
        return [f"answer churn {shown} not settling: >= {limits.churn_settle:g} x its first {churns[0]:.2f}"]
    return []


def drift_alarm(nlls: Sequence[float], limits: GuardLimits = GuardLimits()) -> list[str]:
    """What the drift says at the last check (``nlls[0]``: the start's own greedy completions): [] while near.

    >>> drift_alarm([1.90, 1.98, 2.18, 2.27])  # sound runs stay within 10-20%
    []
    >>> drift_alarm([1.90, 2.26, 2.57])
    ['drift: the start finds the greedy completions 2.57 nats unlikely, > 1.25 x its own 1.90 (a budget: a sound run that needs to go further needs a larger train.guard_drift)']
    """
    if len(nlls) < 2 or nlls[-1] <= (1 + limits.drift_ceiling) * nlls[0]:
        return []
    return [
        f"drift: the start finds the greedy completions {nlls[-1]:.2f} nats unlikely, "
        f"> {1 + limits.drift_ceiling:g} x its own {nlls[0]:.2f} (a budget: a sound run that needs to go further "
        "needs a larger train.guard_drift)"
    ]


def trainable_weights(model: Any) -> dict[str, Any]:
    """A copy of the model's trainable parameters (a LoRA run: the adapter), by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def put_weights(model: Any, weights: dict[str, Any]) -> None:
    """Copy ``weights`` (from :func:`trainable_weights`) into the model's parameters of the same names."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)


class CollapseGuard(TrainerCallback):
    """Watches each step's label-free signals; warns, or stops and restores the last sound weights.

    ``look``: the policy's greedy answers to the fixed unlabelled prompts and their drift (given the model), for the
    churn and drift signals; None leaves them off. ``rollouts``: watch the rollout signals (off under a curriculum)."""

    def __init__(
        self,
        mode: str,
        limits: GuardLimits = GuardLimits(),
        look: Callable[[Any], Look] | None = None,
        rollouts: bool = True,
    ) -> None:
        self.mode = mode
        self.limits = limits
        self.look = look
        self.rollouts = rollouts
        if not rollouts and look is None:
            logger.warning(
                "collapse guard: no rollout signals (a curriculum) and no churn check: it watches nothing"
            )
        self.last_answers: list[str | None] | None = None
        self.churns: list[tuple[int, float]] = []
        self.nlls: list[tuple[int, float]] = []
        self.history: list[dict[str, float]] = []
        self.snapshots: list[tuple[int, dict[str, Any]]] = []  # the last two quiet ones
        self.tripped: tuple[int, list[str]] | None = None
        self.restored_step: int | None = None

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or "cuma/mask_rate" not in logs or self.tripped:
            return
        self.history.append(
            {
                "entropy": logs.get("entropy"),
                "majority_share": logs.get("cuma/majority_share"),
                "parse_rate": logs.get("cuma/parse_rate"),
                "completion_length": logs.get("completions/mean_length"),
            }
        )
        found = alarms(self.history, self.limits) if self.rollouts else []
        model = kwargs.get("model")
        if not found:
            if model is not None and state.global_step % self.limits.window == 0:
                self._take_snapshot(model, state.global_step)
            return
        self._trip(state.global_step, found, model, control)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.look is not None and model is not None:
            self._record(state.global_step, self.look(model))  # the start's (or the checkpoint's)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """Every ``window`` steps (before this step's log and snapshot): the answer churn and the drift."""
        if self.look is None or self.tripped or model is None or state.global_step % self.limits.window:
            return
        before = self.last_answers
        now = self.look(model)
        self._record(state.global_step, now)
        if before is None:
            return
        self.churns.append((state.global_step, churn(before, now.answers)))
        found = churn_alarm([c for _, c in self.churns], self.limits)
        found += drift_alarm([n for _, n in self.nlls], self.limits) if now.nll is not None else []
        if found:
            self._trip(state.global_step, found, model, control)

    def _record(self, step: int, look: Look) -> None:
        self.last_answers = look.answers
        if look.nll is not None:
            self.nlls.append((step, look.nll))

    def _trip(self, step: int, found: list[str], model: Any, control: Any) -> None:
        self.tripped = (step, found)
        logger.warning("collapse guard at step %d: %s", step, "; ".join(found))
        if self.mode == "stop":
            control.should_training_stop = True
            if model is not None and self.snapshots:
                self._restore(model, *self.snapshots[0])

    def _take_snapshot(self, model: Any, step: int) -> None:
        self.snapshots = [*self.snapshots, (step, trainable_weights(model))][-2:]

    def _restore(self, model: Any, step: int, weights: dict[str, Any]) -> None:
        put_weights(model, weights)
        self.restored_step = step
        logger.warning("collapse guard: restored the weights of step %d", step)

    def report(self) -> dict[str, Any] | None:
        """What the guard did, for the run's summary: its checks (churn, drift), and where it tripped (None: none)."""
        checks = {"churn": [{"step": s, "churn": round(c, 4)} for s, c in self.churns]} if self.churns else {}
        if self.nlls:
            checks["drift_nll"] = [{"step": s, "nll": round(n, 4)} for s, n in self.nlls]
        if self.tripped is None:
            return checks or None
        return {
            "step": self.tripped[0],
            "signals": self.tripped[1],
            "restored_step": self.restored_step,
            **checks,
        }
