"""The probe's gold alignment of a setting under the band curriculum's draws, from a probe's saved samples.

    python scripts/band_forecast.py --probe runs/probe-r1 [--preset repro-cpu] [--method cuma+band]

`cuma-lite probe` forecasts a setting as if it drew prompts uniformly. This weights each prompt's push by how
often `curriculum.mode=band` would draw its level at the start of training: the scheduler itself
(:meth:`CurriculumScheduler.band_weights`) is fed the agreement of simulated groups (label-free: the label's
share of G samples), and its level weights, normalised, become the prompts' weights in
:func:`cuma_lite.forecast.gold_alignment`. The band moves during training; this is its first-order, start-of-run
forecast. docs/experiments.md has how it fared (it was wrong in direction on all four rungs tried).
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.config import load_config
from cuma_lite.curriculum import CurriculumScheduler
from cuma_lite.forecast import gold_alignment
from cuma_lite.probe import load_samples, setting_of
from cuma_lite.repro import METHODS
from cuma_lite.shaping import group_scores


def band_draws(prompts, setting, curriculum, *, resamples: int = 4, seed: int = 0) -> dict[int, float]:
    """Each level's draw probability at the start: the scheduler's band weights after observing ``resamples``
    simulated groups a prompt (a window that holds them all)."""
    levels = [p.level or 1 for p in prompts]
    window = resamples * len(prompts)
    cfg = replace(curriculum, window=window, min_observations=1)
    scheduler = CurriculumScheduler(levels, cfg, total_steps=1, seed=seed)
    rng = random.Random(seed)
    for p, level in zip(prompts, levels, strict=True):
        for _ in range(resamples):
            group = rng.sample(p.samples, min(setting.group, len(p.samples)))
            share = group_scores(group, [], setting.shaping, greedy=p.greedy).share
            scheduler.observe(level, False, agreement=share)
    weights = scheduler.band_weights()
    total = sum(weights.values())
    return {level: w / total for level, w in weights.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", type=Path, required=True, help="a `cuma-lite probe --out` directory")
    parser.add_argument("--preset", default="repro-cpu")
    parser.add_argument("--method", default="cuma+band", help="a repro method with curriculum.mode=band")
    parser.add_argument("--temperature", default="1.0")
    args = parser.parse_args()
    cfg = load_config(args.preset, list(METHODS[args.method]))
    if cfg.curriculum.mode != "band":
        sys.exit(f"{args.method}: curriculum.mode={cfg.curriculum.mode}, not band.")
    prompts = load_samples(args.probe / f"samples_T{args.temperature}.jsonl")
    setting = setting_of(args.method, cfg)
    draws = band_draws(prompts, setting, cfg.curriculum)
    counts = {level: sum(1 for p in prompts if (p.level or 1) == level) for level in draws}
    weights = [draws[p.level or 1] * len(prompts) / counts[p.level or 1] for p in prompts]
    uniform = gold_alignment(prompts, setting)
    band = gold_alignment(prompts, setting, weights=weights)
    print("draw probability by level:", ", ".join(f"{lvl}: {q:.3f}" for lvl, q in sorted(draws.items())))
    for name, a in (("uniform", uniform), ("band", band)):
        lo, hi = a.interval
        print(f"{name:8s} gold alignment {a.alignment:+.3f} ({lo:+.2f}, {hi:+.2f})")


if __name__ == "__main__":
    main()
