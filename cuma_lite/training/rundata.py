"""A run's data: training prompts, the held-out evaluation split, and each prompt's curriculum difficulty.

Gold answers go to the evaluation and to the pseudo-label diagnostics only: the dataset handed to TRL holds
``prompt``, ``id`` and ``level`` and nothing else (:func:`training_dataset`), so no reward can read a gold answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cuma_lite.config import Config, parse_levels
from cuma_lite.data.io import read_jsonl, write_jsonl
from cuma_lite.errors import UserError
from cuma_lite.prompts import format_prompt, render_prompts

if TYPE_CHECKING:
    from cuma_lite.curriculum import CurriculumScheduler
    from cuma_lite.rollout.contract import Generator

logger = logging.getLogger(__name__)

DIFFICULTY_FILE = "difficulty.jsonl"
TRAINING_COLUMNS = ("prompt", "id", "level")
"""The only columns the trainer (and so every reward function) sees."""


@dataclass
class RunData:
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gold(self) -> dict[str, str]:
        """Prompt id -> gold answer of the training rows that have one: diagnostics (and the gold control) only."""
        return {str(r["id"]): str(r["answer"]) for r in self.train if r.get("answer") not in (None, "")}


def load_run_data(cfg: Config) -> RunData:
    """Training prompts and held-out evaluation items (with gold answers) for this config."""
    if cfg.data.path is None:
        from cuma_lite.data.families import generate_family

        levels = parse_levels(cfg.data.synth_levels)
        task = cfg.data.synth_task
        held = (
            generate_family(task, levels, cfg.eval.per_level, cfg.eval.seed, split=cfg.eval.split)
            if cfg.eval.per_level
            else []
        )
        exclude = {r["problem"] for r in held}
        train = generate_family(
            task,
            levels,
            cfg.data.synth_per_level,
            cfg.train.seed,
            exclude=exclude,
            split=cfg.data.synth_split,
        )
        return RunData(train, held)
    from cuma_lite.data.loaders import load_rows

    rows = load_rows(
        cfg.data.path,
        problem_field=cfg.data.problem_field,
        answer_field=cfg.data.answer_field,
        difficulty_field=cfg.data.difficulty_field,
    )
    graded = [r for r in rows if r.get("answer") not in (None, "")]
    eval_rows = _take_per_level(graded, cfg.eval.per_level) if len(graded) == len(rows) else []
    held_ids = {id(r) for r in eval_rows}
    train = [r for r in rows if id(r) not in held_ids]
    if not train:
        raise UserError(
            f"{cfg.data.path}: every row went to the held-out evaluation split; lower eval.per_level "
            "(or set it to 0)."
        )
    return RunData(train, eval_rows)


def _take_per_level(rows: list[dict[str, Any]], per_level: int) -> list[dict[str, Any]]:
    counts: dict[Any, int] = {}
    taken = []
    for r in rows:
        level = r.get("difficulty")
        level = level if isinstance(level, int) else None  # float difficulties: one pool, not one per value
        if counts.get(level, 0) < per_level:
            counts[level] = counts.get(level, 0) + 1
            taken.append(r)
    return taken


def training_dataset(rows: list[dict[str, Any]], scheduler: CurriculumScheduler, cfg: Config) -> Any:
    """The dataset TRL sees: prompt, id and curriculum level. No gold answer, by construction."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": format_prompt(r["problem"], cfg.model.prompt_style),
                "id": str(r["id"]),
                "level": scheduler.level_of(i),
            }
            for i, r in enumerate(rows)
        ]
    )


def difficulties(rows: list[dict[str, Any]], cfg: Config) -> list[float | int]:
    """Each row's difficulty for the curriculum (one level when there is none, or when told to ignore it)."""
    values = [r.get("difficulty") for r in rows]
    if cfg.curriculum.difficulty_source == "none":
        return [0] * len(rows)
    if all(v is None for v in values):
        if cfg.curriculum.mode != "off":
            logger.warning(
                "the data has no 'difficulty' column: the curriculum sees a single level. Set "
                "curriculum.difficulty_source=estimate to measure it label-free before training (or run "
                "`cuma-lite data difficulty`)."
            )
        return [0] * len(rows)
    if any(v is None for v in values):
        missing = next(i for i, v in enumerate(values) if v is None)
        raise UserError(
            f"row id={rows[missing]['id']} has no 'difficulty' while others do; give every row one, or none."
        )
    return values  # type: ignore[return-value]


def estimate_train_difficulty(
    rows: list[dict[str, Any]], generator: Generator, cfg: Config, out: Path
) -> tuple[list[dict[str, Any]], bool]:
    """``curriculum.difficulty_source=estimate``: grade the training prompts label-free with the base policy.

    Each prompt is sampled like a rollout; its majority share sets its level (high agreement = easy). The graded
    rows are written to ``difficulty.jsonl`` in the run, and a resumed run reads them back instead of sampling
    again. Returns (rows, whether the model generated)."""
    from cuma_lite.data.difficulty import estimate_difficulty
    from cuma_lite.rollout.contract import SamplingSpec

    path = out / DIFFICULTY_FILE
    if path.exists():
        graded = {r["id"]: r for r in read_jsonl(path)}
        if set(graded) >= {r["id"] for r in rows}:
            return [graded[r["id"]] for r in rows], False
    logger.info("estimating the difficulty of %d prompts from the base policy's votes", len(rows))
    spec = SamplingSpec.from_rollout(cfg.rollout, seed=cfg.train.seed)
    graded_rows = estimate_difficulty(rows, generator, spec, prompt_style=cfg.model.prompt_style)
    write_jsonl(path, graded_rows)
    return graded_rows, True


def check_prompt_lengths(rows: list[dict[str, Any]], tokenizer: Any, cfg: Config) -> None:
    """Every prompt leaves room for a full completion in ``model.max_seq_length``, or a UserError naming it."""
    budget = cfg.model.max_seq_length - cfg.rollout.max_new_tokens
    for r in rows:
        (text,), special = render_prompts([format_prompt(r["problem"], cfg.model.prompt_style)], tokenizer)
        n = len(tokenizer(text, add_special_tokens=special).input_ids)
        if n > budget:
            raise UserError(
                f"prompt id={r['id']} is {n} tokens, but model.max_seq_length - rollout.max_new_tokens = {budget}. "
                "Shorten or drop long prompts, raise model.max_seq_length, or lower rollout.max_new_tokens."
            )
