"""``train(cfg)``: label-free GRPO from a config, end to end.

1. Prepare the run directory (refuse to clobber another run unless ``--resume`` or ``--overwrite``).
2. Load prompts (a JSONL file, or synthetic problems of graded difficulty) and a held-out evaluation split.
   Gold answers go to the evaluation and to the pseudo-label diagnostics only: the training dataset handed to
   TRL has ``prompt``, ``id`` and ``level`` columns and nothing else, so no reward can read a gold answer.
3. Load the policy (``hf`` backend), evaluate it greedily per level (before).
4. Train with :func:`~cuma_lite.training.grpo.cuma_trainer_class` (majority-vote reward, exact no-majority mask,
   curriculum sampler), logging ``metrics.jsonl`` / ``samples.jsonl`` and a live progress bar, checkpointing every
   ``train.save_steps`` (with the curriculum's state, so ``--resume`` continues the schedule).
5. Save the LoRA adapter (``adapter/``) or the full model (``model/``), evaluate again (after), summarise.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuma_lite.config import Config, dump_config, parse_levels
from cuma_lite.curriculum import CURRICULUM_STATE, CurriculumScheduler
from cuma_lite.data.io import read_jsonl, write_jsonl
from cuma_lite.errors import UserError
from cuma_lite.prompts import format_prompt
from cuma_lite.rewards import GoldAnswerReward, GroupVote, MajorityVoteReward

logger = logging.getLogger(__name__)

HELD_OUT_SEED = 1000
"""Synthetic held-out problems: the seed the embedded models' SFT set excluded (their cards report accuracy on
this set), so evaluation never scores a problem the base model was trained on. RL prompts exclude them too."""


# ------------------------------------------------------------------------------------------------ run directory


def check_output_dir(out: Path, cfg: Config, *, resume: bool, overwrite: bool) -> str | None:
    """Refuse to clobber another run (writes nothing); returns the checkpoint to resume from, if any."""
    has_run = (out / "config.yaml").exists()
    if resume:
        if not has_run:
            raise UserError(
                f"--resume: {out} holds no run to resume (no config.yaml); drop --resume to start one."
            )
        _check_same_run(out, cfg)
        return _latest_checkpoint(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        what = "another run" if has_run else "files"
        raise UserError(
            f"{out} already holds {what}. Use --resume to continue it, --overwrite to replace it, "
            "or --output to pick another directory."
        )
    return None


def init_output_dir(out: Path, cfg: Config, *, resume: bool) -> None:
    """Start the run directory (a fresh run replaces what ``check_output_dir`` allowed it to)."""
    if resume:
        return
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(dump_config(cfg))


def prepare_output_dir(out: Path, cfg: Config, *, resume: bool, overwrite: bool) -> str | None:
    checkpoint = check_output_dir(out, cfg, resume=resume, overwrite=overwrite)
    init_output_dir(out, cfg, resume=resume)
    return checkpoint


def _check_same_run(out: Path, cfg: Config) -> None:
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())
    now = cfg.to_dict()
    differs = [
        f"{section}.{key}"
        for section, values in now.items()
        for key, value in values.items()
        if saved.get(section, {}).get(key) != value and f"{section}.{key}" != "train.max_steps"
    ]
    if differs:
        raise UserError(
            f"--resume: the config differs from the run in {out} at {', '.join(differs)}; resume with the same "
            "preset and overrides (only train.max_steps may change)."
        )


def _latest_checkpoint(out: Path) -> str | None:
    """The newest *complete* checkpoint. A run killed while saving leaves a partial ``checkpoint-N``; the curriculum
    state is the last file a save writes (:mod:`cuma_lite.training.grpo`), so a checkpoint without it is skipped."""
    ckpts = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    complete = [c for c in ckpts if (c / CURRICULUM_STATE).exists()]
    for partial in sorted(set(ckpts) - set(complete)):
        logger.warning(
            "%s is incomplete (the run was stopped while saving it): resuming from an earlier one.", partial
        )
    return str(complete[-1]) if complete else None


# --------------------------------------------------------------------------------------------------------- data


@dataclass
class RunData:
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]] = field(default_factory=list)


def load_run_data(cfg: Config) -> RunData:
    """Training prompts and held-out evaluation items (with gold answers) for this config."""
    if cfg.data.path is None:
        from cuma_lite.data.synthetic import generate

        levels = parse_levels(cfg.data.synth_levels)
        held = (
            generate(cfg.data.synth_task, levels, cfg.eval.per_level, HELD_OUT_SEED)
            if cfg.eval.per_level
            else []
        )
        exclude = {r["problem"] for r in held}
        train = generate(
            cfg.data.synth_task, levels, cfg.data.synth_per_level, cfg.train.seed, exclude=exclude
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
    held = {id(r) for r in eval_rows}
    train = [r for r in rows if id(r) not in held]
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


def _difficulties(rows: list[dict[str, Any]], cfg: Config) -> list[float | int]:
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


DIFFICULTY_FILE = "difficulty.jsonl"


def estimate_train_difficulty(
    rows: list[dict[str, Any]], model: Any, tokenizer: Any, cfg: Config, out: Path
) -> tuple[list[dict[str, Any]], bool]:
    """``curriculum.difficulty_source=estimate``: grade the training prompts label-free with the base policy.

    Each prompt is sampled ``rollout.num_generations`` times; its majority share sets its level (high agreement =
    easy; :mod:`cuma_lite.data.difficulty`). The graded rows are written to ``difficulty.jsonl`` in the run, and a
    resumed run reads them back instead of sampling again. Returns (rows, whether the model generated)."""
    from cuma_lite.data.difficulty import estimate_difficulty

    path = out / DIFFICULTY_FILE
    if path.exists():
        graded = {r["id"]: r for r in read_jsonl(path)}
        if set(graded) >= {r["id"] for r in rows}:
            return [graded[r["id"]] for r in rows], False
    logger.info("estimating the difficulty of %d prompts from the base policy's votes", len(rows))
    graded_rows = estimate_difficulty(
        rows,
        model,
        tokenizer,
        samples=cfg.rollout.num_generations,
        prompt_style=cfg.model.prompt_style,
        max_new_tokens=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        batch_size=cfg.eval.batch_size,
        seed=cfg.train.seed,
    )
    write_jsonl(path, graded_rows)
    return graded_rows, True


def check_prompt_lengths(rows: list[dict[str, Any]], tokenizer: Any, cfg: Config) -> None:
    budget = cfg.model.max_seq_length - cfg.rollout.max_new_tokens
    for r in rows:
        prompt = format_prompt(r["problem"], cfg.model.prompt_style)
        if not isinstance(prompt, str):
            prompt = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        n = len(tokenizer(prompt).input_ids)
        if n > budget:
            raise UserError(
                f"prompt id={r['id']} is {n} tokens, but model.max_seq_length - rollout.max_new_tokens = {budget}. "
                "Shorten or drop long prompts, raise model.max_seq_length, or lower rollout.max_new_tokens."
            )


# --------------------------------------------------------------------------------------------- vote diagnostics


class VoteLog:
    """Per generation batch: vote statistics for the metrics, pseudo-label accuracy, and ``samples.jsonl``.

    ``gold`` maps prompt id -> gold answer for the diagnostics only; it never reaches the reward.
    """

    def __init__(self, out: Path, gold: dict[str, str], samples_per_step: int) -> None:
        self.samples_path = out / "samples.jsonl"
        self.gold = gold
        self.samples_per_step = samples_per_step
        self.trainer: Any = None  # set once the trainer exists: its state gives the step number

    def __call__(self, groups: list[GroupVote]) -> dict[str, float]:
        from cuma_lite.answers import answers_equivalent

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
            right = [answers_equivalent(g.vote.label or "", self.gold[g.prompt_id]) for g in graded]
            metrics["cuma/pseudo_label_acc"] = sum(right) / len(right)
        self._write_samples(groups)
        return metrics

    def _write_samples(self, groups: list[GroupVote]) -> None:
        with self.samples_path.open("a", encoding="utf-8") as fh:
            for g in groups[: self.samples_per_step]:
                row = {
                    "step": self.trainer.state.global_step + 1 if self.trainer is not None else None,
                    "id": g.prompt_id,
                    "level": g.level,
                    "completions": list(g.completions),
                    "answers": list(g.answers),
                    "pseudo_label": g.vote.label,
                    "majority_share": round(g.vote.share, 4),
                    "masked": g.vote.masked,
                    "rewards": g.vote.rewards,
                }
                fh.write(json.dumps(row) + "\n")


# ------------------------------------------------------------------------------------------------------- train


def run_training(cfg: Config, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Train as ``cfg`` says; returns the run summary (also written to ``summary.json``)."""
    from rich.console import Console

    console = Console()
    out = Path(cfg.train.output_dir)
    data = load_run_data(cfg)  # bad input fails before anything is written (and before the heavy imports)
    checkpoint = check_output_dir(out, cfg, resume=resume, overwrite=overwrite)
    _quiet_third_party()
    model, tokenizer = _load_policy(cfg)
    check_prompt_lengths(data.train, tokenizer, cfg)
    init_output_dir(out, cfg, resume=resume)

    estimated = False
    if cfg.curriculum.difficulty_source == "estimate" and cfg.curriculum.mode != "off":
        data.train, estimated = estimate_train_difficulty(data.train, model, tokenizer, cfg, out)
    evaluate = HeldOutEval(data.eval, cfg, console)
    before = evaluate(model, tokenizer, step=0, tag="before") if checkpoint is None else None
    generated = before is not None or estimated
    if generated and _needs_reload(cfg):  # 4-bit on CPU: a no-grad generation repacked the weights
        model, tokenizer = _load_policy(cfg)

    trainer = build_trainer(cfg, model, tokenizer, data, out)
    if cfg.eval.every and data.eval and not _needs_reload(cfg):
        from cuma_lite.training.callbacks import PeriodicEvalCallback

        trainer.add_callback(PeriodicEvalCallback(evaluate, tokenizer, cfg.eval.every))
    if checkpoint is not None:
        trainer.restore_curriculum(Path(checkpoint))
        console.print(f"resuming from [bold]{checkpoint}[/]")
    start = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except Exception as e:
        if _is_cuda_oom(e):
            raise UserError(
                f"CUDA out of memory at step {trainer.state.global_step}.\n{_oom_advice(cfg)}"
            ) from None
        raise
    train_seconds = time.perf_counter() - start
    final_dir = save_final(trainer, tokenizer, cfg, out)

    after = evaluate(trainer.model, tokenizer, step=trainer.state.global_step, tag="after")
    if before is None and (out / "eval_before.json").exists():
        before = json.loads((out / "eval_before.json").read_text())
    summary = _summarise(cfg, out, final_dir, train_seconds, before, after)
    if before is not None and after is not None:
        from cuma_lite.evaluation import format_accuracy_table

        console.print(
            format_accuracy_table(before, after, title="Held-out greedy accuracy (gold answers, eval only)")
        )
    console.print(
        f"[bold green]done[/] in {train_seconds:.0f} s: {summary['steps']} steps, "
        f"mean mask rate {summary['mean_mask_rate']:.2f}, final weights in [bold]{final_dir}[/]"
    )
    return summary


def _is_cuda_oom(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(error)


def _oom_advice(cfg: Config) -> str:
    """The knobs to lower and the planner's view (the checkpoints already written are untouched)."""
    import torch

    from cuma_lite.gpu.plan import oom_advice

    card = torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else None
    return oom_advice(cfg, card)


class _DropMaskedRewardWarning(logging.Filter):
    """TRL warns on every completion whose reward is None; for CuMa that is the no-majority mask at work."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "All reward functions returned None" not in record.getMessage()


def _quiet_third_party() -> None:
    """Our progress bar and metrics.jsonl replace the trainer's printed dicts and the per-save tqdm bars."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("trl.trainer.grpo_trainer").addFilter(_DropMaskedRewardWarning())


def _load_policy(cfg: Config) -> tuple[Any, Any]:
    from cuma_lite.training.backends import load_policy

    return load_policy(cfg)


def _needs_reload(cfg: Config) -> bool:
    from cuma_lite.training.backends import needs_train_mode_generation

    return needs_train_mode_generation(cfg)


class HeldOutEval:
    """Greedy accuracy per level on the held-out split (gold answers: diagnostics only, never a reward).

    Each evaluation writes ``eval_<tag>.json`` (+ predictions) and a line ``{"step", "eval_tag",
    "eval_accuracy", "eval_per_level"}`` to ``metrics.jsonl``, so the report can draw it next to the curves.
    """

    def __init__(self, items: list[dict[str, Any]], cfg: Config, console: Any) -> None:
        self.items = items
        self.cfg = cfg
        self.console = console
        self.out = Path(cfg.train.output_dir)

    def __call__(self, model: Any, tokenizer: Any, *, step: int, tag: str) -> dict[str, Any] | None:
        if not self.items:
            return None
        from cuma_lite.evaluation import greedy_accuracy

        with self.console.status(f"evaluating {len(self.items)} held-out problems ({tag})"):
            result = greedy_accuracy(
                model,
                tokenizer,
                self.items,
                batch_size=self.cfg.eval.batch_size,
                max_new_tokens=self.cfg.rollout.max_new_tokens,
                prompt_style=self.cfg.model.prompt_style,
            )
        summary = {k: v for k, v in result.items() if k != "predictions"}
        summary["per_level"] = {str(k): v for k, v in result["per_level"].items()}
        (self.out / f"eval_{tag}.json").write_text(json.dumps(summary, indent=2))
        write_jsonl(self.out / f"eval_{tag}_predictions.jsonl", result["predictions"])
        record = {
            "step": step,
            "eval_tag": tag,
            "eval_accuracy": summary["accuracy"],
            "eval_per_level": {k: v["accuracy"] for k, v in summary["per_level"].items()},
        }
        with (self.out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        self.console.print(
            f"held-out greedy accuracy ({tag}): {summary['accuracy']:.3f} over {summary['n']} problems"
        )
        return summary


def build_trainer(cfg: Config, model: Any, tokenizer: Any, data: RunData, out: Path) -> Any:
    """The CuMa GRPO trainer for this config (majority-vote reward, exact mask, curriculum sampler)."""
    from accelerate import PartialState
    from accelerate.utils import gather_object
    from transformers.trainer_callback import PrinterCallback

    from cuma_lite.training.backends import trainer_base
    from cuma_lite.training.callbacks import MetricsCallback, RichProgressCallback
    from cuma_lite.training.grpo import CurriculumSampler, cuma_trainer_class
    from cuma_lite.training.trl_compat import install_logprob_fallback

    install_logprob_fallback()  # trl 1.15 without Triton (CPU) cannot compute GRPO log-probs otherwise

    state = PartialState()
    g, prompts = cfg.rollout.num_generations, cfg.train.prompts_per_step
    generation_batch = prompts * g
    ga = cfg.train.gradient_accumulation_steps
    if generation_batch % (state.num_processes * ga):
        raise UserError(
            f"train.prompts_per_step * rollout.num_generations = {generation_batch} must divide evenly over "
            f"{state.num_processes} process(es) x {ga} accumulation step(s); adjust train.prompts_per_step."
        )
    scheduler = CurriculumScheduler(
        _difficulties(data.train, cfg), cfg.curriculum, total_steps=cfg.train.max_steps, seed=cfg.train.seed
    )
    sampler = CurriculumSampler(
        scheduler,
        prompts_per_generation=prompts,
        num_generations=g,
        repeat_count=ga,
        total_generations=cfg.train.max_steps,
    )
    reward = MajorityVoteReward(
        g, min_share=cfg.vote.min_share, gather=gather_object, process_index=state.process_index
    )
    gold = {str(r["id"]): str(r["answer"]) for r in data.train if r.get("answer") not in (None, "")}
    vote_log = VoteLog(out, gold, cfg.train.samples_per_step if state.is_main_process else 0)
    reward_funcs, weights = _reward_funcs(cfg, reward, gold)
    args = _grpo_args(
        cfg, out, per_device=generation_batch // (state.num_processes * ga), reward_weights=weights
    )
    cls = cuma_trainer_class(trainer_base(cfg))
    trainer = cls(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=training_dataset(data.train, scheduler, cfg),
        processing_class=tokenizer,
        vote_reward=reward,
        sampler=sampler,
        on_votes=vote_log,
        mask_normaliser=cfg.vote.mask_normaliser,
        min_groups_per_update=cfg.train.min_groups_per_update,
        vote_is_reward=cfg.reward.kind == "majority",
    )
    vote_log.trainer = trainer
    for func in reward_funcs:
        if hasattr(func, "bind"):
            func.bind(trainer)
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; our progress bar shows the signals
    trainer.add_callback(
        MetricsCallback(out / "metrics.jsonl", scheduler, also_truncate=(vote_log.samples_path,))
    )
    trainer.add_callback(RichProgressCallback())
    return trainer


def _reward_funcs(
    cfg: Config, vote: MajorityVoteReward, gold: dict[str, str]
) -> tuple[list[Any], list[float]]:
    """The reward functions and their weights. The vote always runs: it drives the mask, the curriculum and the
    logs; with another ``reward.kind`` it is weighted 0 and that kind's reward is the one optimised."""
    kind = cfg.reward.kind
    if kind == "majority":
        return [vote], [1.0]
    if kind == "gold":
        if not gold:
            raise UserError("reward.kind=gold needs gold answers ('answer' column) in the training data.")
        return [vote, GoldAnswerReward(gold)], [0.0, 1.0]
    from cuma_lite.training.confidence import ConfidenceReward

    return [vote, ConfidenceReward(kind, temperature=cfg.rollout.temperature)], [0.0, 1.0]


def _grpo_args(cfg: Config, out: Path, *, per_device: int, reward_weights: list[float]) -> Any:
    import torch
    from trl import GRPOConfig

    from cuma_lite.training.backends import grpo_overrides, torch_dtype

    cuda = torch.cuda.is_available()
    dtype = torch_dtype(cfg)
    return GRPOConfig(
        output_dir=str(out),
        use_cpu=not cuda,
        bf16=cuda and dtype == torch.bfloat16,
        fp16=cuda and dtype == torch.float16,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=cfg.train.gradient_accumulation_steps,
        num_generations=cfg.rollout.num_generations,
        max_completion_length=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p,
        top_k=cfg.rollout.top_k,
        learning_rate=cfg.train.learning_rate,
        lr_scheduler_type="constant",
        max_steps=cfg.train.max_steps,
        beta=cfg.train.beta,
        loss_type=cfg.train.loss_type,
        scale_rewards=cfg.train.scale_rewards,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.train.save_steps,
        save_total_limit=2,
        report_to=[],
        disable_tqdm=True,
        seed=cfg.train.seed,
        data_seed=cfg.train.seed,
        ignore_data_skip=True,  # the curriculum sampler resumes from its own state, not by replaying draws
        shuffle_dataset=False,
        log_completions=False,
        reward_weights=reward_weights,
        **grpo_overrides(cfg),
    )


def save_final(trainer: Any, tokenizer: Any, cfg: Config, out: Path) -> Path:
    """``adapter/`` (peft-loadable LoRA) or ``model/`` (a full fine-tune, transformers-loadable), plus tokenizer."""
    final_dir = out / ("adapter" if cfg.lora.r > 0 else "model")
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if cfg.lora.r > 0:
            from cuma_lite.training.backends import save_adapter

            save_adapter(cfg, model, final_dir)
        else:
            model.save_pretrained(final_dir, safe_serialization=True)
        tokenizer.save_pretrained(final_dir)
    trainer.accelerator.wait_for_everyone()
    return final_dir


def _summarise(
    cfg: Config, out: Path, final_dir: Path, seconds: float, before: Any, after: Any
) -> dict[str, Any]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    steps = [m for m in map(json.loads, lines) if "mask_rate" in m]  # training steps (not eval lines)
    mask_rates = [m["mask_rate"] for m in steps]
    summary = {
        "steps": steps[-1]["step"] if steps else 0,
        "train_seconds": round(seconds, 1),
        "mean_mask_rate": sum(mask_rates) / len(mask_rates) if mask_rates else float("nan"),
        "final_weights": str(final_dir),
        "accuracy_before": before["accuracy"] if before else None,
        "accuracy_after": after["accuracy"] if after else None,
        "per_level_before": before["per_level"] if before else None,
        "per_level_after": after["per_level"] if after else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
