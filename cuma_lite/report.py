"""``cuma-lite report``: the training curves of one or more runs as a PNG, and their held-out accuracy side by side.

The curves are the ones that tell label-free RL learning from label-free RL collapsing: reward (agreement with
the pseudo-label), majority share, mask rate, pseudo-label accuracy (only when gold answers existed: a
diagnostic), the curriculum level, completion length, and the held-out greedy accuracy at each evaluation.
Several runs are overlaid with a legend (e.g. TTRL vs CuMa).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cuma_lite.errors import UserError

PANELS: tuple[tuple[str, str], ...] = (
    ("reward_mean", "reward (agreement with pseudo-label)"),
    ("majority_share", "majority share"),
    ("mask_rate", "mask rate (no clear majority)"),
    ("pseudo_label_acc", "pseudo-label accuracy (gold, diagnostic)"),
    ("level_mean", "curriculum level (mean drawn)"),
    ("completion_length", "completion length (tokens)"),
)


@dataclass
class RunCurves:
    name: str
    steps: list[dict[str, Any]]
    evals: list[dict[str, Any]]


def load_run(run_dir: Path, name: str | None = None) -> RunCurves:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{run_dir}: no metrics.jsonl; give a run directory written by `cuma-lite train`.")
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a last line torn by a kill
    steps = [r for r in rows if "eval_tag" not in r and "step" in r]
    if not steps:
        raise UserError(f"{path} holds no training steps yet.")
    return RunCurves(name or run_dir.name, steps, [r for r in rows if "eval_tag" in r])


def ema(values: list[float | None], alpha: float) -> list[float | None]:
    """Exponential moving average that skips missing values (None stays None)."""
    out: list[float | None] = []
    acc: float | None = None
    for v in values:
        if v is None:
            out.append(None)
            continue
        acc = v if acc is None else alpha * v + (1 - alpha) * acc
        out.append(acc)
    return out


def plot_runs(runs: list[RunCurves], out: Path, *, smooth: float = 0.0) -> Path:
    """Write the figure: one panel per signal present in any run, plus held-out accuracy when evaluated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, t) for k, t in PANELS if any(s.get(k) is not None for r in runs for s in r.steps)]
    has_evals = any(r.evals for r in runs)
    n = len(panels) + int(has_evals)
    cols = 3 if n > 4 else 2
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.4 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax, (key, title) in zip(axes.flat, panels, strict=False):
        for run in runs:
            xs = [s["step"] for s in run.steps]
            ys = [s.get(key) for s in run.steps]
            if smooth > 0:
                ys = ema(ys, 1 - smooth)
            ax.plot(xs, [float("nan") if y is None else y for y in ys], label=run.name, linewidth=1.4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if has_evals:
        ax = axes.flat[len(panels)]
        for run in runs:
            ax.plot(
                [e["step"] for e in run.evals], [e["eval_accuracy"] for e in run.evals], "o-", label=run.name
            )
        ax.set_title("held-out greedy accuracy (gold)", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    suffix = f" (EMA smoothing {smooth})" if smooth > 0 else ""
    fig.suptitle(f"cuma-lite training curves{suffix}", fontsize=12)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(runs), 4), frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def eval_table(runs: list[RunCurves]) -> list[dict[str, Any]]:
    """Rows ``{run, level, before, after}`` from each run's first and last held-out evaluation."""
    rows = []
    for run in runs:
        if len(run.evals) < 1:
            continue
        first, last = run.evals[0], run.evals[-1]
        levels = sorted(set(first["eval_per_level"]) | set(last["eval_per_level"]), key=_level_key)
        for level in [*levels, "all"]:
            before = first["eval_accuracy"] if level == "all" else first["eval_per_level"].get(level)
            after = last["eval_accuracy"] if level == "all" else last["eval_per_level"].get(level)
            rows.append({"run": run.name, "level": level, "before": before, "after": after})
    return rows


def _level_key(level: str) -> tuple[int, float | str]:
    try:
        return (0, float(level))
    except ValueError:
        return (1, level)
