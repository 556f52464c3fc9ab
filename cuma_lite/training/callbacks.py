"""Trainer callbacks: a line of ``metrics.jsonl`` per step, periodic held-out evaluation, and a rich progress bar
showing the signals that say whether label-free RL is learning or collapsing (reward, majority share, mask rate,
curriculum level and, when gold answers exist, the diagnostic pseudo-label accuracy).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from transformers import TrainerCallback

from cuma_lite.curriculum import CurriculumScheduler
from cuma_lite.training.logs import JsonlLog

# TRL's metric name -> ours; everything else TRL logs is kept under its own name.
RENAMES = {
    "reward": "reward_mean",
    "rewards/majority_vote/mean": None,  # the same number as "reward"
    "rewards/majority_vote/std": None,
    "completions/mean_length": "completion_length",
    "cuma/majority_share": "majority_share",
    "cuma/mask_rate": "mask_rate",
    "cuma/parse_rate": "parse_rate",
    "cuma/pseudo_label_acc": "pseudo_label_acc",
    "cuma/level_mean": "level_mean",
    "cuma/level_max": "level_max",
}


class MetricsCallback(TrainerCallback):
    """One ``metrics.jsonl`` record per logged step; on resume, the logs forget the steps after the checkpoint."""

    def __init__(
        self, metrics: JsonlLog, scheduler: CurriculumScheduler, also_truncate: tuple[JsonlLog, ...] = ()
    ):
        self.metrics = metrics
        self.scheduler = scheduler
        self.also_truncate = also_truncate
        self._last_time: float | None = None
        self._last_tokens: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:  # resumed: forget the steps after the checkpoint, they are redone
            for log in (self.metrics, *self.also_truncate):
                log.truncate_after(state.global_step)
        self._last_time = time.perf_counter()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return
        record: dict[str, Any] = {"step": state.global_step}
        for key, value in logs.items():
            name = RENAMES.get(key, key)
            if name is not None:
                record[name] = value
        step = max(state.global_step - 1, 0)
        record["active_levels"] = self.scheduler.active_levels(min(step, self.scheduler.total_steps - 1))
        if self.scheduler.config.mode == "band":  # the draw weights the next generation batch sees, per level
            record["band_weights"] = {str(lvl): w for lvl, w in self.scheduler.band_weights().items()}
        now = time.perf_counter()
        tokens = logs.get("num_tokens")
        if tokens is not None and self._last_tokens is not None and self._last_time is not None:
            record["tokens_per_s"] = (tokens - self._last_tokens) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_tokens = now, tokens
        self.metrics.append(record)


class PeriodicEvalCallback(TrainerCallback):
    """Held-out evaluation every ``every`` steps (``eval.every``); before/after are run by the run itself."""

    def __init__(self, evaluate: Callable[..., Any], generator_for: Callable[[Any], Any], every: int) -> None:
        self.evaluate = evaluate
        self.generator_for = generator_for
        self.every = every

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        step = state.global_step
        if state.is_world_process_zero and step % self.every == 0 and step < state.max_steps:
            self.evaluate(self.generator_for(model), step=step, tag=f"step{step}")


class RichProgressCallback(TrainerCallback):
    """A progress bar showing reward, majority share, mask rate and curriculum level as training goes."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(bar_width=12),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[signals]}"),
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=state.max_steps, completed=state.global_step, signals=""
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if self.progress is None or not logs or "cuma/mask_rate" not in logs:
            return
        shown = {"reward": "reward", "share": "cuma/majority_share", "masked": "cuma/mask_rate"}
        if "cuma/pseudo_label_acc" in logs:
            shown["label-acc"] = "cuma/pseudo_label_acc"
        signals = " ".join(f"{label} {_fmt(logs.get(key))}" for label, key in shown.items())
        if logs.get("cuma/level_max") is not None:
            signals += f" lvl<={logs['cuma/level_max']:.0f}"
        self.progress.update(self.task, completed=state.global_step, signals=signals)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()
            self.progress = None


def _fmt(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) or math.isnan(value) else f"{value:.2f}"
