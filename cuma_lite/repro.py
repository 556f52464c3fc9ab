"""``cuma-lite repro``: the paper's claims in miniature, on a CPU, with the same trainer that trains real models.

Claims: (a) label-free majority-vote RL helps a capable base, (b) it degrades a weak one, (c) the no-majority
mask plus a curriculum fixes that. Grid: two embedded bases (``tiny-math``, weak; ``tiny-math-strong``) x the
methods below x N seeds, each one ``cuma-lite train`` run of the ``repro-cpu`` preset (whose header documents
every setting) with the method's overrides. ``gold`` is not label-free: it is the supervised control that shows
what the same trainer does when the reward is right.

Each run is a subprocess with one CPU thread, so runs are bit-for-bit reproducible (same seed, same table on
the same machine) and ``--jobs`` of them run side by side. Every run is evaluated on the same held-out problems
(gold answers, evaluation only) before and after. A finished run is reused when ``repro`` is run again, so an
interrupted grid resumes where it stopped, and ``--quick`` (seed 0 only) is the first third of the full grid.
Outputs in ``--out``: ``results.json``, ``results.md`` (mean ± std over seeds, overall and per level, and the
verdict on each claim) and ``results.png``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cuma_lite.errors import UserError

PRESET = "repro-cpu"
BASES = {"weak": "embedded:tiny-math", "strong": "embedded:tiny-math-strong"}
_LABEL_FREE_BASELINE = ("vote.min_share=0", "curriculum.mode=off", "train.min_groups_per_update=0")
METHODS: dict[str, tuple[str, ...]] = {
    "ttrl": _LABEL_FREE_BASELINE,
    "cuma": (),
    "cuma-no-bank": ("train.min_groups_per_update=0",),
    "mask-only": ("curriculum.mode=off",),
    "curriculum-only": ("vote.min_share=0", "train.min_groups_per_update=0"),
    "intuitor": (*_LABEL_FREE_BASELINE, "reward.kind=self_certainty", "train.scale_rewards=group"),
    "rent": (*_LABEL_FREE_BASELINE, "reward.kind=entropy", "train.scale_rewards=group"),
    "gold": (*_LABEL_FREE_BASELINE, "reward.kind=gold"),
}
"""Overrides of the ``repro-cpu`` preset (which is CuMa) per method."""
QUICK_METHODS = ("ttrl", "cuma", "mask-only", "curriculum-only", "intuitor", "rent")
"""``--quick``: seed 0 of the paper's comparison (without the bank ablation and the gold control)."""


@dataclass(frozen=True)
class Cell:
    base: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.base}-{self.method}-s{self.seed}"

    def overrides(self, run_dir: Path, extra: Sequence[str]) -> list[str]:
        return [
            f"model.name={BASES[self.base]}",
            f"train.seed={self.seed}",
            f"train.output_dir={run_dir}",
            *METHODS[self.method],
            *extra,
        ]


def grid(
    seeds: int, bases: Sequence[str] = tuple(BASES), methods: Sequence[str] = tuple(METHODS)
) -> list[Cell]:
    unknown = [m for m in methods if m not in METHODS] + [b for b in bases if b not in BASES]
    if unknown:
        raise UserError(
            f"unknown method/base {unknown}; methods: {', '.join(METHODS)}; bases: {', '.join(BASES)}."
        )
    return [Cell(b, m, s) for s in range(seeds) for b in bases for m in methods]


def run_cell(cell: Cell, out: Path, extra: Sequence[str]) -> dict[str, Any]:
    """Train one cell in a one-thread subprocess (or reuse its finished run) and return its summary."""
    run_dir = out / "runs" / cell.name
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = out / "runs" / f"{cell.name}.log"
    command = [sys.executable, "-m", "cuma_lite", "train", "--preset", PRESET, "--overwrite"]
    for item in cell.overrides(run_dir, extra):
        command += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as f:
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0 or not summary_path.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise UserError(f"repro run {cell.name} failed (exit {done.returncode}); its log is {log}:\n{tail}")
    return json.loads(summary_path.read_text())


def run_repro(
    out: Path,
    *,
    seeds: int = 3,
    jobs: int = 2,
    methods: Sequence[str] = tuple(METHODS),
    bases: Sequence[str] = tuple(BASES),
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Run the grid (``jobs`` runs at a time), then write ``results.json``, ``results.md`` and ``results.png``."""
    cells = grid(seeds, bases, methods)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _run_all(cells, out, list(overrides), jobs, progress)
    results = collect(out, cells)
    results["overrides"] = list(overrides)
    results["preset"] = PRESET
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["claims"] = claims(results["summary"])
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    plot(results, out, cells)
    return results


def _run_all(cells: list[Cell], out: Path, extra: list[str], jobs: int, progress: bool) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("repro"), BarColumn(), TextColumn("{task.completed}/{task.total} runs"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("repro", total=len(cells))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run_cell, cell, out, extra) for cell in cells]
            for future in futures:
                future.result()  # re-raises the first failure (after the runs in flight finish)
                bar.advance(task)


def collect(out: Path, cells: list[Cell]) -> dict[str, Any]:
    runs = []
    for cell in cells:
        summary = json.loads((out / "runs" / cell.name / "summary.json").read_text())
        runs.append(
            {
                "base": cell.base,
                "method": cell.method,
                "seed": cell.seed,
                "before": summary["accuracy_before"],
                "after": summary["accuracy_after"],
                "per_level_before": {k: v["accuracy"] for k, v in summary["per_level_before"].items()},
                "per_level_after": {k: v["accuracy"] for k, v in summary["per_level_after"].items()},
                "mean_mask_rate": summary["mean_mask_rate"],
                "train_seconds": summary["train_seconds"],
            }
        )
    return {"runs": runs, "summary": summarise(runs)}


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds for each base x method: before, after, change, and per level after."""
    rows = []
    for base in dict.fromkeys(r["base"] for r in runs):
        for method in dict.fromkeys(r["method"] for r in runs):
            group = [r for r in runs if r["base"] == base and r["method"] == method]
            if not group:
                continue
            levels = sorted(group[0]["per_level_after"], key=float)
            rows.append(
                {
                    "base": base,
                    "method": method,
                    "seeds": len(group),
                    "before": _mean_std([r["before"] for r in group]),
                    "after": _mean_std([r["after"] for r in group]),
                    "change": _mean_std([r["after"] - r["before"] for r in group]),
                    "per_level_after": {
                        lv: _mean_std([r["per_level_after"][lv] for r in group]) for lv in levels
                    },
                    "mask_rate": _mean_std([r["mean_mask_rate"] for r in group]),
                }
            )
    return rows


def _mean_std(values: list[float]) -> list[float]:
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def claims(summary: list[dict[str, Any]]) -> dict[str, str]:
    """The paper's three claims, judged on these numbers: a change counts when its mean exceeds one std (with one
    seed there is no std, and the verdict says so)."""
    rows = {(r["base"], r["method"]): r for r in summary}
    verdicts: dict[str, str] = {}

    def beyond(mean_std: list[float], sign: int) -> bool:
        mean, std = mean_std
        return sign * mean > std if std else sign * mean > 0

    one_seed = all(r["seeds"] == 1 for r in summary)
    caveat = " (one seed: no std, so within noise is not ruled out)" if one_seed else ""
    if ("strong", "ttrl") in rows:
        change = rows[("strong", "ttrl")]["change"]
        verdicts["a"] = (
            f"TTRL on the strong base changes accuracy by {_fmt(change, signed=True)}: "
            + ("holds" if beyond(change, +1) else "does not hold")
            + caveat
        )
    if ("weak", "ttrl") in rows:
        change = rows[("weak", "ttrl")]["change"]
        verdicts["b"] = (
            f"TTRL on the weak base changes accuracy by {_fmt(change, signed=True)}: "
            + ("holds" if beyond(change, -1) else "does not hold")
            + caveat
        )
    if ("weak", "ttrl") in rows and ("weak", "cuma") in rows:
        cuma, ttrl = rows[("weak", "cuma")], rows[("weak", "ttrl")]
        gap = [cuma["after"][0] - ttrl["after"][0], max(cuma["after"][1], ttrl["after"][1])]
        holds = "stays at or above" if cuma["change"][0] >= 0 else "ends below"
        verdicts["c"] = (
            f"weak base, CuMa minus TTRL after training: {_fmt(gap, signed=True)} (larger std of the two): "
            + ("CuMa beats TTRL" if beyond(gap, +1) else "CuMa does not beat TTRL")
            + f"; CuMa {holds} the base ({_fmt(cuma['change'], signed=True)})"
            + caveat
        )
    return verdicts


def markdown_table(results: dict[str, Any]) -> str:
    rows = results["summary"]
    levels = list(rows[0]["per_level_after"]) if rows else []
    head = [
        "base",
        "method",
        "seeds",
        "before",
        "after",
        "change",
        *(f"L{lv} after" for lv in levels),
        "mask rate",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["base"],
            r["method"],
            str(r["seeds"]),
            _fmt(r["before"]),
            _fmt(r["after"]),
            _fmt(r["change"], signed=True),
            *(_fmt(r["per_level_after"][lv]) for lv in levels),
            _fmt(r["mask_rate"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        "\nHeld-out greedy accuracy (mean ± std over seeds); mask rate = share of groups without a clear majority."
        " `gold` is the supervised control (reward from gold answers), not a label-free method.\n"
    )
    verdicts = "".join(f"\n- claim ({k}): {v}" for k, v in results.get("claims", {}).items())
    wall = results.get("wall_seconds")
    footer = (
        f"\nWall time {wall / 60:.1f} min for this invocation (finished runs are reused).\n" if wall else ""
    )
    return "\n".join(lines) + "\n" + note + verdicts + "\n" + footer


def _fmt(mean_std: list[float], *, signed: bool = False) -> str:
    mean, std = mean_std
    return f"{mean:+.3f} ± {std:.3f}" if signed else f"{mean:.3f} ± {std:.3f}"


def plot(results: dict[str, Any], out: Path, cells: list[Cell]) -> Path:
    """Accuracy before/after per base and method; pseudo-label accuracy and mask rate over training (seed 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cuma_lite.report import load_run

    rows = results["summary"]
    bases = list(dict.fromkeys(r["base"] for r in rows))
    fig, axes = plt.subplots(1, 2 + len(bases), figsize=(5.2 * (2 + len(bases)), 4), layout="constrained")
    for ax, base in zip(axes, bases, strict=False):
        mine = [r for r in rows if r["base"] == base]
        xs = range(len(mine))
        ax.bar([x - 0.2 for x in xs], [r["before"][0] for r in mine], 0.4, label="before")
        ax.bar([x + 0.2 for x in xs], [r["after"][0] for r in mine], 0.4, yerr=[r["after"][1] for r in mine],
               label="after")  # fmt: skip
        ax.set_xticks(list(xs), [r["method"] for r in mine], rotation=30)
        ax.set_title(f"{base} base: held-out greedy accuracy", fontsize=10)
        ax.legend(fontsize=8)
    for ax, key, title in (
        (axes[-2], "pseudo_label_acc", "pseudo-label accuracy (gold, diagnostic)"),
        (axes[-1], "mask_rate", "mask rate"),
    ):
        for cell in (c for c in cells if c.seed == 0):
            steps = load_run(out / "runs" / cell.name).steps
            ys = [float("nan") if s.get(key) is None else s[key] for s in steps]
            ax.plot([s["step"] for s in steps], ys, label=cell.name.rsplit("-s", 1)[0])
        ax.set_title(title + " (seed 0)", fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    path = out / "results.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
