"""How well does the probe's forecast match the grid? Rank correlation over methods x rungs.

    python scripts/probe_vs_grid.py --grid runs/repro/results.json --probe runs/probe-r{rung} [--temperature 1.0]

For each rung ``rK`` it reads the answers the probe saved (``runs/probe-rK/samples_T1.0.jsonl``: ``cuma-lite probe
--model embedded:tiny-math-rK --data <val prompts> --out runs/probe-rK``), forecasts every label-free repro method
that can be forecast from answers (not Intuitor or RENT, whose reward needs the model), and compares with the
grid: Spearman's rank correlation between the forecast gold-normalised gain and the measured change (and the
measured gold-normalised gain), and, per rung, whether the probe's verdict for ``cuma`` agrees with the grid's sign.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.config import load_config
from cuma_lite.data.difficulty import spearman
from cuma_lite.forecast import gold_alignment
from cuma_lite.probe import load_samples, setting_of
from cuma_lite.repro import METHODS, PRESET


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", type=Path, required=True, help="results.json of `cuma-lite repro`")
    p.add_argument("--probe", required=True, help="probe directory, with {rung} for the rung's name")
    p.add_argument("--temperature", default="1.0")
    p.add_argument("--json", type=Path, help="also write the table here")
    args = p.parse_args()
    grid = json.loads(args.grid.read_text())
    measured = {(r["base"], r["method"]): r for r in grid["summary"]}
    rows = []
    for base in sorted({b for b, _ in measured}):
        samples = load_samples(Path(args.probe.format(rung=base)) / f"samples_T{args.temperature}.jsonl")
        for method in [m for b, m in measured if b == base]:
            cfg = load_config(PRESET, list(METHODS[method]))
            if cfg.reward.kind not in ("majority",):
                continue
            forecast = gold_alignment(samples, setting_of(method, cfg))
            got = measured[(base, method)]
            rows.append({
                "base": base, "method": method, "forecast": forecast.alignment, "verdict": forecast.verdict(),
                "change": got["change"][0], "change_ci": got["change"][1:],
                "gold_normalised": got.get("gold_normalised", [None])[0],
            })  # fmt: skip
    for r in rows:
        print(f"{r['base']:>3} {r['method']:>18}: forecast {r['forecast']:+.3f} ({r['verdict']:>13}); measured change "
              f"{r['change']:+.3f} ({r['change_ci'][0]:+.3f}, {r['change_ci'][1]:+.3f}), "
              f"gold-normalised {r['gold_normalised'] if r['gold_normalised'] is None else format(r['gold_normalised'], '+.2f')}")  # fmt: skip
    rho_change = spearman([r["forecast"] for r in rows], [r["change"] for r in rows])
    normalised = [r for r in rows if r["gold_normalised"] is not None]
    rho_norm = spearman([r["forecast"] for r in normalised], [r["gold_normalised"] for r in normalised])
    print(f"Spearman (forecast, measured change) over {len(rows)} method x rung cells: {rho_change:+.2f}")
    print(f"Spearman (forecast, measured gold-normalised gain) over {len(normalised)} cells: {rho_norm:+.2f}")
    agree = []
    for r in (r for r in rows if r["method"] == "cuma"):
        lo, hi = r["change_ci"]
        grid_sign = "will help" if lo > 0 else "will not help" if hi < 0 else "unclear"
        agree.append(r["verdict"] == grid_sign)
        print(f"{r['base']}: probe says {r['verdict']!r}, the grid says {grid_sign!r}")
    print(f"verdicts agreeing with the grid for cuma: {sum(agree)} of {len(agree)}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "spearman_change": rho_change, "spearman_normalised": rho_norm,
                                         "verdicts_agree": sum(agree), "rungs": len(agree)}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
