"""``cuma-lite repro``: the paper's claims in miniature, on a ladder of bases, with a yardstick that can tell.

Claims: label-free majority-vote RL (TTRL) helps a capable base and hurts a weak one; CuMa's changes make it help
weaker bases than TTRL can, and never hurt. Grid: the five embedded bases ``tiny-math-r1`` (weakest) ...
``tiny-math-r5``, snapshots of one fine-tuning on the ``sft`` split, x methods x seeds. Every run is one
``cuma-lite train`` of the ``repro-cpu`` preset (its header documents each setting) with the method's overrides:
RL prompts from the ``rl`` split, held-out greedy accuracy on the same 1,500 ``test``-split problems before and
after (``--split val`` judges on the ``val`` split instead: that is where settings are chosen). ``gold`` is the
supervised control: the same trainer with the right reward.

Each run is a subprocess with one CPU thread, so the same command gives the same table to the last digit, and
``--jobs`` run side by side; a finished run is reused, so an interrupted grid resumes. ``results.md`` reports per
base and method the change with a paired 95% bootstrap interval over problems and seeds, the difference to TTRL,
the gold-normalised gain, the step time against TTRL's, and the four targets of the candidate (``grid_stats``).
"""

from __future__ import annotations

import json
import os
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
BASES = {f"r{k}": f"embedded:tiny-math-r{k}" for k in range(1, 6)}
TTRL = ("vote.min_share=0", "curriculum.mode=off", "train.min_groups_per_update=0", "reward.positive=1",
        "reward.negative=0", "reward.ramp_from=0", "reward.ramp_to=0", "reward.center=true", "vote.pool_size=0",
        "reward.label=plurality")  # fmt: skip
CUMA_2025 = ("vote.min_share=0.75", "curriculum.mode=adaptive", "train.min_groups_per_update=4",
             "reward.positive=1", "reward.negative=0", "reward.ramp_from=0", "reward.ramp_to=0", "reward.center=true",
             "vote.pool_size=0", "reward.label=plurality")  # fmt: skip
# fmt: off
METHODS: dict[str, tuple[str, ...]] = {
    "ttrl": TTRL,
    "cuma": (),  # the preset as it is: the setting chosen on the val split (greedy label; presets/repro-cpu.yaml)
    "gold": (*TTRL, "reward.kind=gold"),
    "cuma-2025": CUMA_2025,  # the first reading: 7-of-8 mask, adaptive curriculum, gradient bank
    "cuma+pacing": ("curriculum.mode=pacing",),  # the chosen setting with an easy-to-hard schedule
    "intuitor": (*TTRL, "reward.kind=self_certainty", "train.scale_rewards=group"),  # label-free, no vote
    "mask-only": (*CUMA_2025, "curriculum.mode=off"),
    "curriculum-only": (*TTRL, "curriculum.mode=adaptive"),
    "rent": (*TTRL, "reward.kind=entropy", "train.scale_rewards=group"),
    "ttrl+pool8": (*TTRL, "vote.pool_size=8"),  # the vote over 8 trained + 8 extra no-grad samples
    # agreement pays by the label's share (a soft no-majority mask)
    "soft-mask": (*TTRL, "reward.ramp_from=0.375", "reward.ramp_to=0.75"),
    # only penalise answers seen at most once in 8 (label-free negatives), uncentred
    "rare-negatives": (*TTRL, "reward.positive=0", "reward.negative=1", "reward.rare_share=0.125", "reward.center=false"),
    # stabilisers on the chosen setting: KL to the start, an entropy bonus (docs/experiments.md)
    "cuma+kl": ("train.beta=0.2",),
    "cuma+entropy": ("train.entropy_coef=0.02",),
    # a curriculum that can move: levels drawn by how often their groups' agreement lies in 0.3-0.8
    "cuma+band": ("curriculum.mode=band",),
    # the learning rate decaying to 0 over the run, from twice the preset's (the same sum of step sizes) or thrice
    "cuma+decay": ("train.lr_scheduler=linear", "train.learning_rate=4e-5"),
    "cuma+decay6": ("train.lr_scheduler=linear", "train.learning_rate=6e-5"),
    # consensus consolidation: +0.2 advantage on completions agreeing with a label held by 7 of 8 or more
    "cuma+consolidate": ("reward.consolidate=0.2",),
}
# fmt: on
"""Overrides of the ``repro-cpu`` preset (which is CuMa as chosen) per method."""
MAIN_METHODS = ("ttrl", "cuma", "gold")
# the default grid's ablations (on ABLATION_BASES); the other methods run when named (--methods)
ABLATIONS = ("cuma-2025", "cuma+pacing", "intuitor")
DEFAULT_METHODS = (*MAIN_METHODS, *ABLATIONS)
ABLATION_BASES = ("r1", "r5")
QUICK = {"methods": MAIN_METHODS, "bases": ("r1", "r5")}
REFERENCE, GOLD, CANDIDATE = "ttrl", "gold", "cuma"


@dataclass(frozen=True)
class Cell:
    base: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.base}-{self.method}-s{self.seed}"

    def overrides(self, run_dir: Path, split: str, extra: Sequence[str]) -> list[str]:
        return [
            f"model.name={BASES[self.base]}",
            f"train.seed={self.seed}",
            f"train.output_dir={run_dir}",
            f"eval.split={split}",
            *METHODS[self.method],
            *extra,
        ]


def grid(
    seeds: Sequence[int],
    bases: Sequence[str],
    methods: Sequence[str],
    *,
    ablation_bases: Sequence[str] | None = None,
) -> list[Cell]:
    """Every (base, method, seed); methods outside MAIN_METHODS only on ``ablation_bases`` (when given)."""
    unknown = [m for m in methods if m not in METHODS] + [b for b in bases if b not in BASES]
    if unknown:
        raise UserError(
            f"unknown method/base {unknown}; methods: {', '.join(METHODS)}; bases: {', '.join(BASES)}."
        )
    return [
        Cell(b, m, s)
        for s in seeds
        for b in bases
        for m in methods
        if ablation_bases is None or m in MAIN_METHODS or b in ablation_bases
    ]


def run_cell(cell: Cell, out: Path, split: str, extra: Sequence[str]) -> dict[str, Any]:
    """Train one cell in a one-thread subprocess (or reuse its finished run) and return its summary."""
    run_dir = out / "runs" / cell.name
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = out / "runs" / f"{cell.name}.log"
    command = [sys.executable, "-m", "cuma_lite", "train", "--preset", PRESET, "--overwrite"]
    for item in cell.overrides(run_dir, split, extra):
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
    seeds: Sequence[int] = (0, 1, 2),
    jobs: int = 2,
    methods: Sequence[str] = DEFAULT_METHODS,
    bases: Sequence[str] = tuple(BASES),
    ablation_bases: Sequence[str] | None = ABLATION_BASES,
    split: str = "test",
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Run the grid (``jobs`` runs at a time), then write ``results.json``, ``results.md`` and ``results.png``."""
    cells = grid(seeds, bases, methods, ablation_bases=ablation_bases)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _run_all(cells, out, split, list(overrides), jobs, progress)
    results = collect(out, cells)
    results.update(overrides=list(overrides), preset=PRESET, split=split, seeds=list(seeds))
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results))
    plot(results, out)
    return results


def _run_all(cells: list[Cell], out: Path, split: str, extra: list[str], jobs: int, progress: bool) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("repro"), BarColumn(), TextColumn("{task.completed}/{task.total} runs"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("repro", total=len(cells))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run_cell, cell, out, split, extra) for cell in cells]
            for future in futures:
                future.result()  # re-raises the first failure (after the runs in flight finish)
                bar.advance(task)


def correct_by_problem(path: Path) -> dict[str, bool]:
    """Problem id -> whether the run got it right, from an ``eval_*_predictions.jsonl``."""
    return {str(r["id"]): bool(r["correct"]) for r in map(json.loads, path.read_text().splitlines())}


def collect(out: Path, cells: list[Cell]) -> dict[str, Any]:
    """Per run: accuracies and cost; per base and method: the bootstrap statistics; the candidate's targets."""
    from cuma_lite.grid_stats import bootstrap, deltas, targets

    runs, per_problem = [], {}
    for cell in cells:
        run_dir = out / "runs" / cell.name
        summary = json.loads((run_dir / "summary.json").read_text())
        runs.append(
            {
                "base": cell.base, "method": cell.method, "seed": cell.seed,
                "before": summary["accuracy_before"], "after": summary["accuracy_after"],
                "per_level_before": {k: v["accuracy"] for k, v in summary["per_level_before"].items()},
                "per_level_after": {k: v["accuracy"] for k, v in summary["per_level_after"].items()},
                "mean_mask_rate": summary["mean_mask_rate"], "train_seconds": summary["train_seconds"],
                "steps": summary["steps"], "rollout_tokens_per_step": _rollout_tokens(run_dir),
            }
        )  # fmt: skip
        per_problem[cell] = (correct_by_problem(run_dir / "eval_before_predictions.jsonl"),
                             correct_by_problem(run_dir / "eval_after_predictions.jsonl"))  # fmt: skip
    strength: dict[str, float] = {}
    table: dict[str, dict[str, Any]] = {}
    for base in dict.fromkeys(c.base for c in cells):
        mine = [c for c in cells if c.base == base]
        before = per_problem[mine[0]][0]
        strength[base] = sum(before.values()) / len(before)
        per_method = {
            m: deltas(before, [per_problem[c][1] for c in mine if c.method == m])
            for m in dict.fromkeys(c.method for c in mine)
        }
        table[base] = bootstrap(per_method, reference=REFERENCE, gold=GOLD)
    summary = [
        {
            "base": base, "before": strength[base], "method": method,
            "seeds": sum(1 for r in runs if r["base"] == base and r["method"] == method),
            **{k: v.as_list() for k, v in stats.items()},
            "mask_rate": _mean([r["mean_mask_rate"] for r in runs if r["base"] == base and r["method"] == method]),
            "seconds_per_step": _mean([r["train_seconds"] / max(r["steps"], 1) for r in runs
                                       if r["base"] == base and r["method"] == method]),
            "rollout_tokens_per_step": _mean([r["rollout_tokens_per_step"] for r in runs
                                              if r["base"] == base and r["method"] == method]),
        }
        for base, methods in table.items()
        for method, stats in methods.items()
    ]  # fmt: skip
    result = {"runs": runs, "summary": summary, "strength": strength}
    if any(CANDIDATE in methods for methods in table.values()):
        result["targets"] = targets(table, strength, CANDIDATE)
    return result


def _rollout_tokens(run_dir: Path) -> float:
    """Completion tokens the trainer sampled a step (mean completion length x prompts x G), from metrics.jsonl.
    Generation outside the rollout (the greedy label, a vote pool) is not in it: see its s/step instead."""
    import yaml

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    per_step = cfg["train"]["prompts_per_step"] * cfg["rollout"]["num_generations"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return _mean([r["completion_length"] * per_step for r in rows if "completion_length" in r])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _value(v: Any) -> str:
    """A target's detail for results.md: an estimate as mean (low, high), a list of bases as r1, r2."""
    if isinstance(v, list) and len(v) == 3 and all(isinstance(x, float) for x in v):
        return _fmt(v)
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "none"
    return str(v)


def _fmt(triple: list[float] | None) -> str:
    if not triple:
        return "-"
    return f"{triple[0]:+.3f} ({triple[1]:+.3f}, {triple[2]:+.3f})"


def markdown(results: dict[str, Any]) -> str:
    rows = results["summary"]
    ttrl_time = {r["base"]: r["seconds_per_step"] for r in rows if r["method"] == REFERENCE}
    head = ["base", "before", "method", "seeds", "change (95% CI)", "vs TTRL", "gold-normalised", "mask rate",
            "s/step (x TTRL)", "rollout tokens/step"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = r["seconds_per_step"] / ttrl_time[r["base"]] if ttrl_time.get(r["base"]) else float("nan")
        lines.append(
            f"| {r['base']} | {r['before']:.3f} | {r['method']} | {r['seeds']} | {_fmt(r['change'])} | "
            f"{_fmt(r.get('vs_reference'))} | {_fmt(r.get('gold_normalised'))} | {r['mask_rate']:.2f} | "
            f"{r['seconds_per_step']:.2f} ({ratio:.2f}) | {r.get('rollout_tokens_per_step', float('nan')):.0f} |"
        )
    split = results.get("split", "test")
    note = (
        f"\nHeld-out greedy accuracy on the `{split}` split (gold answers, evaluation only). Change: mean over seeds "
        "and problems of after - before, with a paired 95% bootstrap interval over problems and seeds; vs TTRL: the "
        "paired difference; gold-normalised: change / gold's change. `gold` is the supervised control.\n"
    )
    targets = results.get("targets")
    verdicts = ""
    if targets:
        verdicts = "\nTargets of the candidate (`cuma`):\n" + "".join(
            f"- {name.replace('_', ' ')}: {'holds' if t['holds'] else 'does NOT hold'} "
            f"({', '.join(f'{k.replace(chr(95), chr(32))}: {_value(v)}' for k, v in t.items() if k != 'holds')})\n"
            for name, t in targets.items()
        )
    wall = results.get("wall_seconds")
    footer = (
        f"\nWall time {wall / 60:.1f} min for this invocation (finished runs are reused).\n" if wall else ""
    )
    return "\n".join(lines) + "\n" + note + verdicts + footer


def plot(results: dict[str, Any], out: Path) -> Path:
    """Change in held-out accuracy against the base's strength, one line per method, with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    rows = results["summary"]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["before"])
        xs = [r["before"] for r in mine]
        ys = [r["change"][0] for r in mine]
        err = [[y - r["change"][1] for y, r in zip(ys, mine, strict=True)],
               [r["change"][2] - y for y, r in zip(ys, mine, strict=True)]]  # fmt: skip
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=method)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("base's held-out greedy accuracy before RL")
    ax.set_ylabel("change after RL (95% CI)")
    ax.set_title(f"label-free RL vs base strength ({results.get('split', 'test')} split)", fontsize=10)
    ax.legend(fontsize=8)
    path = out / "results.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
