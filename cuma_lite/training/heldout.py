"""Held-out greedy accuracy during a run (before, every ``eval.every`` steps, after): gold answers, diagnostics
only. Each evaluation writes ``eval_<tag>.json`` (+ predictions) and one line to ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cuma_lite.config import Config
from cuma_lite.data.io import write_jsonl
from cuma_lite.training.logs import JsonlLog


class HeldOutEval:
    def __init__(self, items: list[dict[str, Any]], cfg: Config, metrics: JsonlLog, console: Any) -> None:
        self.items = items
        self.cfg = cfg
        self.metrics = metrics
        self.console = console
        self.out = Path(cfg.train.output_dir)

    def __call__(self, generator: Any, *, step: int, tag: str) -> dict[str, Any] | None:
        if not self.items:
            return None
        from cuma_lite.evaluation import greedy_accuracy

        with self.console.status(f"evaluating {len(self.items)} held-out problems ({tag})"):
            result = greedy_accuracy(
                generator,
                self.items,
                max_new_tokens=self.cfg.rollout.max_new_tokens,
                prompt_style=self.cfg.model.prompt_style,
            )
        summary = {k: v for k, v in result.items() if k != "predictions"}
        summary["per_level"] = {str(k): v for k, v in result["per_level"].items()}
        (self.out / f"eval_{tag}.json").write_text(json.dumps(summary, indent=2))
        write_jsonl(self.out / f"eval_{tag}_predictions.jsonl", result["predictions"])
        self.metrics.append(
            {
                "step": step,
                "eval_tag": tag,
                "eval_accuracy": summary["accuracy"],
                "eval_per_level": {k: v["accuracy"] for k, v in summary["per_level"].items()},
            }
        )
        self.console.print(
            f"held-out greedy accuracy ({tag}): {summary['accuracy']:.3f} over {summary['n']} problems"
        )
        return summary

    def saved(self, tag: str) -> dict[str, Any] | None:
        """A previous evaluation of this run (a resumed run does not redo its "before")."""
        path = self.out / f"eval_{tag}.json"
        return json.loads(path.read_text()) if path.exists() else None
