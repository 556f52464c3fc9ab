"""Check that a grading change leaves a finished run's numbers exactly as they were.

For every completion of a run directory (``eval_*_predictions.jsonl`` and ``samples.jsonl``, e.g. those of
``cuma-lite repro --quick``), compare the grading code of a baseline git revision with the working tree:

* ``extract_answer``: the same string (or None), and the one the run recorded;
* ``normalize_answer`` of every extracted answer (the vote buckets by it);
* the gold verdict: baseline ``answers_equivalent(prediction, gold)`` (what evaluation used) against ours,
  ``grade(prediction, gold)`` and ``answers_equivalent``, and against the recorded ``correct``;
* the vote's relation on every pair of answers within each sampled group, and the recorded vote itself
  (pseudo-label, share, mask, rewards) recomputed with ``majority_vote`` at the run's ``vote.min_share``.

The baseline's ``cuma_lite/answers.py`` and ``numeric_signatures.py`` are read with ``git show`` (nothing in
the checkout changes). Exit status 1 on any difference.

    python scripts/check_grading_stable.py RUNS_DIR [--baseline 9c63185]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType

import yaml

from cuma_lite import answers
from cuma_lite.voting import majority_vote

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "9c63185"
"""The last commit before the grading rework of issue 14."""


def load_baseline(revision: str, into: Path) -> ModuleType:
    """The baseline's ``answers`` module, importing its own ``numeric_signatures``."""
    for name in ("answers", "numeric_signatures"):
        source = subprocess.run(
            ["git", "show", f"{revision}:cuma_lite/{name}.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        source = source.replace(
            "from cuma_lite.numeric_signatures import", "from baseline_numeric_signatures import"
        )
        (into / f"baseline_{name}.py").write_text(source)
    sys.path.insert(0, str(into))
    spec = importlib.util.spec_from_file_location("baseline_answers", into / "baseline_answers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_answer(old: ModuleType, text: str, recorded: str | None, problems: list[str]) -> str | None:
    ours = answers.extract_answer(text)
    if ours != old.extract_answer(text) or ours != recorded:
        problems.append(f"extract_answer {text!r}: baseline {old.extract_answer(text)!r}, ours {ours!r}")
    if ours is not None and answers.normalize_answer(ours) != old.normalize_answer(ours):
        problems.append(
            f"normalize_answer {ours!r}: {old.normalize_answer(ours)!r} -> {answers.normalize_answer(ours)!r}"
        )
    return ours


def check_gold(old: ModuleType, prediction: str | None, gold: str, problems: list[str]) -> bool:
    before = prediction is not None and old.answers_equivalent(prediction, gold)
    graded = answers.grade(prediction, gold).correct
    symmetric = prediction is not None and answers.answers_equivalent(prediction, gold)
    if not before == graded == symmetric:
        problems.append(
            f"gold {gold!r} vs {prediction!r}: baseline {before}, grade {graded}, vote {symmetric}"
        )
    return graded


def check_run(old: ModuleType, run: Path, counts: Counter[str], problems: list[str]) -> None:
    for path in sorted(run.glob("eval_*_predictions.jsonl")):
        for row in map(json.loads, path.read_text().splitlines()):
            prediction = check_answer(old, row["completion"], row["prediction"], problems)
            if check_gold(old, prediction, row["answer"], problems) != row["correct"]:
                problems.append(f"{path.name} {row['id']}: recorded correct={row['correct']} changes")
            counts["eval completions"] += 1
    samples = run / "samples.jsonl"
    if not samples.exists():
        return
    min_share = yaml.safe_load((run / "config.yaml").read_text())["vote"]["min_share"]
    for row in map(json.loads, samples.read_text().splitlines()):
        group = [
            check_answer(old, t, a, problems) for t, a in zip(row["completions"], row["answers"], strict=True)
        ]
        for a, b in itertools.combinations([a for a in group if a is not None], 2):
            if old.answers_equivalent(a, b) != answers.answers_equivalent(a, b):
                problems.append(f"pair {a!r} {b!r}: baseline {old.answers_equivalent(a, b)}, ours flipped")
            counts["pairs within groups"] += 1
        vote = majority_vote(group, min_share=min_share)
        recorded = (row["pseudo_label"], row["majority_share"], row["masked"], row["rewards"])
        if (vote.label, vote.share, vote.masked, vote.rewards) != recorded:
            problems.append(f"{samples} step {row['step']}: vote {vote} differs from the recorded {recorded}")
        counts["sampled completions"] += len(group)
        counts["groups"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="a run directory, or a directory of them (e.g. repro/runs)")
    parser.add_argument(
        "--baseline", default=BASELINE, help="git revision of the grading code to compare with"
    )
    args = parser.parse_args()
    runs = sorted({p.parent for p in args.runs.rglob("*.jsonl") if p.name.startswith(("eval_", "samples"))})
    counts: Counter[str] = Counter()
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        old = load_baseline(args.baseline, Path(tmp))
        for run in runs:
            check_run(old, run, counts, problems)
    print(f"{len(runs)} runs against {args.baseline}: {dict(counts)}")
    for problem in problems:
        print("  DIFFERENT:", problem)
    print(f"{len(problems)} differences")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
