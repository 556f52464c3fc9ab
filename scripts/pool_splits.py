"""The same trained models judged on two held-out splits, and on both pooled.

    python scripts/pool_splits.py --grid val=runs/repro-val --grid test=runs/repro --bases r1,r2 \
        --methods ttrl,cuma,gold --seeds 0-11

With one grid it scores that grid alone, and ``--seeds-of gold=0-11`` lets one method have other seeds than the
rest (the bootstrap draws each method's seeds from its own).

A `cuma-lite repro` run trains the same model for a seed whatever `--split` it is evaluated on (the split only
picks the held-out problems), so the validation and test grids of one seed hold one model scored on two disjoint
sets of 1,500 problems. This prints, per base and method, the change on each split and on the union (3,000
problems), with the grid's paired bootstrap over problems and seeds: how much of a difference between the splits
is the problems (a shift every method shares) rather than the training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.cli.train import parse_seeds
from cuma_lite.grid_stats import bootstrap, deltas, one_way
from cuma_lite.repro import GOLD, REFERENCE, correct_by_problem


def per_problem(grids: dict[str, Path], base: str, method: str, seeds: list[int]):
    """[seeds, problems] of after - before over the named grids' problems (ids prefixed by the grid's name)."""
    before: dict[str, bool] = {}
    afters: list[dict[str, bool]] = [{} for _ in seeds]
    for name, out in grids.items():
        for k, seed in enumerate(seeds):
            run = out / "runs" / f"{base}-{method}-s{seed}"
            if not (run / "summary.json").exists():
                sys.exit(
                    f"{run}: no finished run; give grids that hold every seed of every method asked for."
                )
            before.update(
                {
                    f"{name}:{i}": v
                    for i, v in correct_by_problem(run / "eval_before_predictions.jsonl").items()
                }
            )
            afters[k].update(
                {
                    f"{name}:{i}": v
                    for i, v in correct_by_problem(run / "eval_after_predictions.jsonl").items()
                }
            )
    return deltas(before, afters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--grid", action="append", required=True, help="NAME=DIR, a repro --out directory; twice"
    )
    parser.add_argument("--bases", default="r1,r2")
    parser.add_argument("--methods", default="ttrl,cuma,gold")
    parser.add_argument("--seeds", default="0-2", help="0-11 or 0,1,2")
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="of the intervals (0.975: a second look)"
    )
    parser.add_argument(
        "--one-way",
        action="store_true",
        help="also each change's interval over problems alone and seeds alone",
    )
    parser.add_argument(
        "--seeds-of", action="append", default=[], help="METHOD=SEEDS: other seeds for one method (gold=0-11)"
    )
    args = parser.parse_args()
    grids = dict((g.split("=", 1)[0], Path(g.split("=", 1)[1])) for g in args.grid)
    methods = args.methods.split(",")
    seeds = {m: parse_seeds(args.seeds) for m in methods}
    seeds.update({m: parse_seeds(s) for m, s in (item.split("=", 1) for item in args.seeds_of)})
    for base in args.bases.split(","):
        for names in [[n] for n in grids] + ([list(grids)] if len(grids) > 1 else []):
            chosen = {n: grids[n] for n in names}
            per_method = {m: per_problem(chosen, base, m, seeds[m]) for m in methods}
            table = bootstrap(
                per_method,
                reference=REFERENCE,
                gold=GOLD,
                confidence=args.confidence,
            )
            for m in methods:
                row = table[m]
                more = "".join(
                    f"  {label} {row[key].fmt()}"
                    for key, label in (
                        ("vs_reference", f"vs {REFERENCE}"),
                        ("gold_normalised", "gold-normalised"),
                    )
                    if key in row
                )
                print(f"{base} {'+'.join(names):9s} {m:6s} change {row['change'].fmt()}{more}")
                if args.one_way:
                    alone = {
                        over: one_way(per_method[m], over, confidence=args.confidence).fmt()
                        for over in ("problems", "seeds")
                    }
                    print(
                        f"{'':20s} over problems alone {alone['problems']}, over seeds alone {alone['seeds']}"
                    )


if __name__ == "__main__":
    main()
