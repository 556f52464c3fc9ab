"""``cuma-lite repro``: the paper's claims in miniature, on a CPU, with the same trainer that trains real models.

Claims: (a) label-free majority-vote RL helps a capable base, (b) it degrades a weak one, (c) the no-majority
mask plus a curriculum fixes that. Grid: two embedded bases (``tiny-math``, weak; ``tiny-math-strong``) x four
methods x N seeds, each one ``cuma-lite train`` run of the ``tiny-cpu`` preset with overrides:

- ``ttrl``: ``vote.min_share=0``, ``curriculum.mode=off`` (plain majority vote, shuffled prompts);
- ``cuma``: the preset's mask (>= 7 of 8 agree) and adaptive curriculum;
- ``mask-only`` and ``curriculum-only``: the two ablations.

Each run is evaluated on the same held-out problems (gold answers, evaluation only) before and after. A finished
run is reused when ``repro`` is run again, so an interrupted grid resumes where it stopped. Outputs in ``--out``:
``results.json``, ``results.md`` (mean ± std over seeds, overall and per level) and ``results.png``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cuma_lite.config import load_config

BASES = {"weak": "embedded:tiny-math", "strong": "embedded:tiny-math-strong"}
METHODS: dict[str, tuple[str, ...]] = {
    "ttrl": ("vote.min_share=0", "curriculum.mode=off"),
    "cuma": (),
    "mask-only": ("curriculum.mode=off",),
    "curriculum-only": ("vote.min_share=0",),
}
QUICK = ("train.max_steps=40",)
"""``--quick``: one seed and 40 steps a run (8 runs, about 12 minutes on 2 cores)."""


@dataclass(frozen=True)
class Cell:
    base: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.base}-{self.method}-s{self.seed}"


def grid(
    seeds: int, bases: Sequence[str] = tuple(BASES), methods: Sequence[str] = tuple(METHODS)
) -> list[Cell]:
    return [Cell(b, m, s) for b in bases for m in methods for s in range(seeds)]


def run_cell(cell: Cell, out: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """Train one cell (or reuse its finished run) and return its summary."""
    from cuma_lite.training import run_training

    run_dir = out / "runs" / cell.name
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    cfg = load_config(
        "tiny-cpu",
        [
            f"model.name={BASES[cell.base]}",
            f"train.seed={cell.seed}",
            f"train.output_dir={run_dir}",
            *METHODS[cell.method],
            *overrides,
        ],
    )
    return run_training(cfg, overwrite=True)


def run_repro(
    out: Path, *, seeds: int = 3, quick: bool = False, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Run the grid, then write ``results.json``, ``results.md`` and ``results.png`` into ``out``."""
    seeds = 1 if quick else seeds
    extra = [*(QUICK if quick else ()), *overrides]
    cells = grid(seeds)
    for cell in cells:
        run_cell(cell, out, extra)
    results = collect(out, cells)
    results["overrides"] = extra
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    plot(results, out, cells)
    return results


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
    note = "\nHeld-out greedy accuracy (mean ± std over seeds); mask rate = share of groups without a clear majority.\n"
    return "\n".join(lines) + "\n" + note


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
        ax.set_xticks(list(xs), [r["method"] for r in mine], rotation=20)
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
