"""When did the collapse guard fire, and what did held-out accuracy do around it? One table a run.

    cuma-lite train --preset repro-cpu --set model.name=embedded:tiny-math-r3 --set eval.split=val \
        --set eval.every=10 --set train.max_steps=80 --set train.learning_rate=5e-5 \
        --set train.collapse_guard=warn --output runs/guard-warn
    python scripts/collapse_timeline.py runs/guard-warn [runs/guard-stop ...]

For each run: held-out accuracy at each evaluation, and the guard's label-free signals (window means of token
entropy, majority share, parse rate, completion length; the answer churn and the drift, as the start's NLL of the
greedy completions over its first, of its checks) at the same steps; then
the step the guard fired at (from ``summary.json``, or recomputed from ``metrics.jsonl`` with the run's window
when it ran with ``warn`` after firing once), the weights it restored, and the final accuracy (a stopped run's
last row is that final evaluation, of the restored weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.training.guard import GuardLimits, alarms

SIGNALS = {"entropy": "entropy", "majority_share": "majority_share", "parse_rate": "parse_rate",
           "completion_length": "completion_length"}  # fmt: skip


def timeline(run: Path) -> None:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "eval_tag" not in r]
    evals = {r["step"]: r["eval_accuracy"] for r in rows if "eval_tag" in r}
    summary = json.loads((run / "summary.json").read_text())
    window = int(_config_value(run, "guard_window") or 5)
    history = [{k: r.get(v) for k, v in SIGNALS.items()} for r in steps]
    first_alarm = next(
        (i + 1 for i in range(len(history)) if alarms(history[: i + 1], GuardLimits(window))), None
    )
    print(f"\n{run}  (guard window {window}; before {summary['accuracy_before']:.3f})")
    guard = summary.get("collapse_guard") or {}
    churn = {c["step"]: c["churn"] for c in guard.get("churn", [])}
    nlls = guard.get("drift_nll", [])
    drift = {d["step"]: f"{d['nll'] / nlls[0]['nll']:.2f}" for d in nlls}
    print(
        "| step | held-out | entropy | majority share | parse rate | length | answer churn | drift | alarms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for step in sorted(evals):
        recent = history[max(0, step - window) : step]
        mean = {k: _mean([h[k] for h in recent]) for k in SIGNALS}
        found = alarms(history[:step], GuardLimits(window)) if step else []
        print(f"| {step} | {evals[step]:.3f} | {mean['entropy']:.3f} | {mean['majority_share']:.2f} | "
              f"{mean['parse_rate']:.2f} | {mean['completion_length']:.0f} | {churn.get(step, '-')} | "
              f"{drift.get(step, '-')} | {'; '.join(found) or '-'} |")  # fmt: skip
    print(
        f"first alarm (recomputed): step {first_alarm}; summary's collapse_guard: {summary.get('collapse_guard')}"
    )
    print(f"final held-out accuracy {summary['accuracy_after']:.3f} after {summary['steps']} steps")


def _config_value(run: Path, key: str) -> str | None:
    for line in (run / "config.yaml").read_text().splitlines():
        if line.strip().startswith(f"{key}:"):
            return line.split(":", 1)[1].split("#")[0].strip()
    return None


def _mean(values: list) -> float:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    for run in parser.parse_args().runs:
        timeline(run)


if __name__ == "__main__":
    main()
