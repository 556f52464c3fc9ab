"""How well does the probe's forecast match the grid? Rank correlation over methods x rungs.

    python scripts/probe_vs_grid.py --grid runs/repro/results.json --probe runs/probe-r{rung} [--temperature 1.0]

For each rung ``rK`` it reads what the probe saved (``cuma-lite probe --model embedded:tiny-math-rK --data <val
prompts> --out runs/probe-rK``) and compares every label-free repro method it can forecast (not Intuitor or RENT,
whose reward needs the model) with the grid: Spearman's rank correlation between the forecast and the measured
change (and the measured gold-normalised gain), and, per rung and method, whether the probe's verdict agrees with
the grid's sign (its interval: above 0, below 0, or neither). Two forecasts, each with its own verdict rule:

- ``transfer`` (from ``probe.json``): the transfer forecast the probe computed from the model's gradients, "will
  help" when its interval is above 0; a method the probe did not name takes the forecast of a probed setting with
  the same advantages (``cuma+pacing`` = ``cuma``: a schedule does not change a group's advantages);
- ``alignment`` (recomputed from ``samples_T*.jsonl``): the gold alignment, "will help" from ``HELP_AT``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.config import load_config
from cuma_lite.data.difficulty import spearman
from cuma_lite.forecast import gold_alignment
from cuma_lite.probe import load_samples, setting_of
from cuma_lite.repro import METHODS, PRESET
from cuma_lite.transfer import Transfer


def _probed_transfer(probed: list[dict], method: str, setting: dict) -> dict | None:
    """The transfer forecast the probe saved for ``method``, else for a probed setting with the same advantages."""
    with_transfer = [s for s in probed if s.get("transfer")]
    named = [s for s in with_transfer if s["setting"]["name"] == method]
    alike = [s for s in with_transfer if {**s["setting"], "name": method} == {**setting, "name": method}]
    found = named or alike
    return found[0]["transfer"] if found else None


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
        probe_dir = Path(args.probe.format(rung=base))
        samples = load_samples(probe_dir / f"samples_T{args.temperature}.jsonl")
        saved = (
            json.loads((probe_dir / "probe.json").read_text()) if (probe_dir / "probe.json").exists() else {}
        )
        probed = saved.get("temperatures", {}).get(args.temperature, {}).get("settings", [])
        for method in [m for b, m in measured if b == base]:
            cfg = load_config(PRESET, list(METHODS[method]))
            if cfg.reward.kind not in ("majority",):
                continue
            setting = setting_of(method, cfg)
            moved = _probed_transfer(probed, method, asdict(setting))
            aligned = gold_alignment(samples, setting)
            got = measured[(base, method)]
            rows.append({
                "base": base, "method": method, "alignment": aligned.alignment, "alignment_verdict": aligned.verdict(),
                "transfer": moved and moved["transfer"], "transfer_ci": moved and moved["interval"],
                "transfer_verdict": moved and Transfer(method, moved["transfer"], tuple(moved["interval"])).verdict(),
                "change": got["change"][0], "change_ci": got["change"][1:],
                "gold_normalised": got.get("gold_normalised", [None])[0],
            })  # fmt: skip
    for r in rows:
        moved = (
            ""
            if r["transfer"] is None
            else f"transfer {r['transfer']:+.3f} ({r['transfer_ci'][0]:+.2f}, {r['transfer_ci'][1]:+.2f}; {r['transfer_verdict']}); "
        )
        print(f"{r['base']:>3} {r['method']:>12}: {moved}alignment {r['alignment']:+.3f} ({r['alignment_verdict']}); "
              f"measured change {r['change']:+.3f} ({r['change_ci'][0]:+.3f}, {r['change_ci'][1]:+.3f}), "
              f"gold-normalised {r['gold_normalised'] if r['gold_normalised'] is None else format(r['gold_normalised'], '+.2f')}")  # fmt: skip
    out: dict[str, object] = {"rows": rows}
    for forecast in ("transfer", "alignment"):
        have = [r for r in rows if r[forecast] is not None]
        if not have:
            continue
        rho_change = spearman([r[forecast] for r in have], [r["change"] for r in have])
        normalised = [r for r in have if r["gold_normalised"] is not None]
        rho_norm = spearman([r[forecast] for r in normalised], [r["gold_normalised"] for r in normalised])
        print(f"{forecast}: Spearman with the measured change over {len(have)} method x rung cells {rho_change:+.2f}, "
              f"with the gold-normalised gain over {len(normalised)} {rho_norm:+.2f}")  # fmt: skip
        agree = {}
        for r in have:
            lo, hi = r["change_ci"]
            grid_sign = "will help" if lo > 0 else "will not help" if hi < 0 else "unclear"
            agree[(r["base"], r["method"])] = r[f"{forecast}_verdict"] == grid_sign
            if r["method"] == "cuma":
                print(
                    f"  {r['base']} cuma: probe says {r[f'{forecast}_verdict']!r}, the grid says {grid_sign!r}"
                )
        cuma = [v for (_, m), v in agree.items() if m == "cuma"]
        print(f"  verdicts agreeing with the grid: cuma {sum(cuma)} of {len(cuma)} rungs, all methods "
              f"{sum(agree.values())} of {len(agree)} cells")  # fmt: skip
        out[forecast] = {"spearman_change": rho_change, "spearman_normalised": rho_norm,
                         "cuma_agree": sum(cuma), "rungs": len(cuma), "cells_agree": sum(agree.values()),
                         "cells": len(agree)}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
