"""A run's two JSON Lines logs, each with one writer: ``metrics.jsonl`` (one line a training step, plus one per
held-out evaluation) and ``samples.jsonl`` (a few voted groups a step). :class:`VoteLog` turns each generation
batch's votes into both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cuma_lite.answers import grade
from cuma_lite.rewards import GroupVote


class JsonlLog:
    """Appends JSON records to ``path``; on resume, forgets the records past a step (they are redone)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop the records whose ``step`` is past ``step`` (and a torn last line from a kill)."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by SIGKILL
            if record.get("step", 0) <= step:
                kept.append(line)
        self.path.write_text("".join(line + "\n" for line in kept))

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class VoteLog:
    """Per generation batch: the vote's metrics (share, mask rate, parse rate, level, pseudo-label accuracy) and a
    few groups written to ``samples.jsonl``. ``gold`` (prompt id -> answer) feeds the diagnostic only."""

    def __init__(self, samples: JsonlLog, gold: dict[str, str], samples_per_step: int) -> None:
        self.samples = samples
        self.gold = gold
        self.samples_per_step = samples_per_step

    def __call__(self, groups: list[GroupVote], step: int) -> dict[str, float]:
        n = len(groups)
        metrics = {
            "cuma/majority_share": sum(g.vote.share for g in groups) / n,
            "cuma/mask_rate": sum(g.vote.masked for g in groups) / n,
            "cuma/parse_rate": sum(a is not None for g in groups for a in g.answers)
            / sum(len(g.answers) for g in groups),
        }
        levels = [g.level for g in groups if g.level is not None]
        if levels:
            metrics["cuma/level_mean"] = sum(levels) / len(levels)
            metrics["cuma/level_max"] = float(max(levels))
        graded = [g for g in groups if not g.vote.masked and g.prompt_id in self.gold]
        if graded:
            right = [grade(g.label, self.gold[g.prompt_id]).correct for g in graded]
            metrics["cuma/pseudo_label_acc"] = sum(right) / len(right)
        for g in groups[: self.samples_per_step]:
            self.samples.append(
                {
                    "step": step,
                    "id": g.prompt_id,
                    "level": g.level,
                    "completions": list(g.completions),
                    "answers": list(g.answers),
                    "pseudo_label": g.label,
                    "majority_share": round(g.vote.share, 4),
                    "masked": g.vote.masked,
                    "rewards": list(g.scores) if g.scores else g.vote.rewards,
                }
            )
        return metrics
