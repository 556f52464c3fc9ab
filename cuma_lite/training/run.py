"""``train(cfg)``: label-free GRPO from a config, in stage order.

data -> model -> curriculum -> rewards -> trainer -> train -> save -> evaluate. Everything else is a helper it
calls: the run directory (:mod:`.rundir`), the data (:mod:`.rundata`), the logs (:mod:`.logs`), the held-out
evaluation (:mod:`.heldout`), and the CuMa trainer itself (:mod:`.trainer`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cuma_lite.backends import Backend, get_backend
from cuma_lite.config import Config
from cuma_lite.curriculum import CurriculumScheduler
from cuma_lite.errors import UserError
from cuma_lite.extraction import extract_answer
from cuma_lite.rewards import GoldAnswerReward, MajorityVoteReward, PoolSampler
from cuma_lite.training import rundata, rundir
from cuma_lite.training.heldout import HeldOutEval
from cuma_lite.training.logs import JsonlLog, VoteLog

if TYPE_CHECKING:
    from cuma_lite.training.lookout import GreedyLook

logger = logging.getLogger(__name__)


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Train as ``cfg`` says; returns the run summary (also written to ``summary.json``)."""
    from rich.console import Console

    console = Console()
    out = Path(cfg.train.output_dir)

    # --- data: bad input fails here, before anything is written or imported
    data = rundata.load_run_data(cfg)
    checkpoint = rundir.check_output_dir(out, cfg, resume=resume, overwrite=overwrite)

    # --- model
    backend = get_backend(cfg)
    backend.activate()
    model, tokenizer = backend.load_policy()
    rundata.check_prompt_lengths(data.train, tokenizer, cfg)
    rundir.init_output_dir(out, cfg, resume=resume)
    metrics, samples = JsonlLog(out / "metrics.jsonl"), JsonlLog(out / "samples.jsonl")
    evaluate = HeldOutEval(data.eval, cfg, metrics, console)

    # --- curriculum: difficulties (measured label-free first if asked), and the "before" evaluation
    generated = False
    if cfg.curriculum.difficulty_source == "estimate" and cfg.curriculum.mode != "off":
        data.train, generated = rundata.estimate_train_difficulty(
            data.train, backend.generator(model, tokenizer), cfg, out
        )
    before = (
        evaluate(backend.generator(model, tokenizer), step=0, tag="before") if checkpoint is None else None
    )
    generated = generated or before is not None
    if generated and backend.generation_spoils_training():  # 4-bit on CPU: the weights were repacked
        model, tokenizer = backend.load_policy()
    scheduler = CurriculumScheduler(
        rundata.difficulties(data.train, cfg),
        cfg.curriculum,
        total_steps=cfg.train.max_steps,
        seed=cfg.train.seed,
    )

    # --- rewards and trainer
    trainer = build_trainer(cfg, backend, model, tokenizer, data, scheduler, metrics, samples)
    if cfg.eval.every and data.eval and not backend.generation_spoils_training():
        from cuma_lite.training.callbacks import PeriodicEvalCallback

        trainer.add_callback(
            PeriodicEvalCallback(evaluate, lambda m: backend.generator(m, tokenizer), cfg.eval.every)
        )
    if checkpoint is not None:
        trainer.restore_curriculum(Path(checkpoint))
        console.print(f"resuming from [bold]{checkpoint}[/]")

    # --- train
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

    # --- save and evaluate
    from cuma_lite.training.guard import CollapseGuard

    guard = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, CollapseGuard)), None)
    final_dir = save_final(trainer, tokenizer, cfg, backend, out)
    after = evaluate(backend.generator(trainer.model, tokenizer), step=trainer.state.global_step, tag="after")
    before = before or evaluate.saved("before")
    summary = summarise(
        cfg, metrics, out, final_dir, train_seconds, before, after, guard.report() if guard else None
    )
    _print_result(console, summary, before, after, train_seconds, final_dir)
    return summary


# ------------------------------------------------------------------------------------------------- rewards


def _gold(cfg: Config, data: rundata.RunData, model: Any, tokenizer: Any) -> Any:
    if not data.gold:
        raise UserError("reward.kind=gold needs gold answers ('answer' column) in the training data.")
    return GoldAnswerReward(data.gold)


def _confidence(kind: str) -> Callable[..., Any]:
    def build(cfg: Config, data: rundata.RunData, model: Any, tokenizer: Any) -> Any:
        from cuma_lite.training.confidence import ConfidenceReward

        return ConfidenceReward(kind, model=model, tokenizer=tokenizer, temperature=cfg.rollout.temperature)

    return build


REWARDS: dict[str, Callable[..., Any] | None] = {
    "majority": None,  # the vote is the reward
    "gold": _gold,  # a supervised control, never label-free
    "self_certainty": _confidence("self_certainty"),
    "entropy": _confidence("entropy"),
}
"""``reward.kind`` -> the reward optimised next to the vote. The vote always runs: it drives the mask, the
curriculum and the logs; with another kind it is weighted 0."""


def pool_sampler(cfg: Config, backend: Backend, model: Any, tokenizer: Any) -> PoolSampler | None:
    """``vote.pool_size`` extra samples of each prompt from the current policy, without gradients, over which the
    vote (and the rarity of an answer) is measured; and its greedy answer when it is the label."""
    greedy = cfg.reward.shaping().label == "greedy"
    if not cfg.vote.pool_size and not greedy:
        return None
    if backend.generation_spoils_training():
        raise UserError(
            "vote.pool_size > 0 generates during training, which 4-bit weights on a CPU cannot; set 0."
        )
    from cuma_lite.rollout.contract import SamplingSpec, texts

    generator = backend.generator(model, tokenizer)
    size, temperature = cfg.vote.pool_size, cfg.vote.pool_temperature

    def sample(prompts: list[Any]) -> list[tuple[list[str | None], str | None]]:
        extra: list[list[str | None]] = [[] for _ in prompts]
        if size:
            spec = SamplingSpec.from_rollout(cfg.rollout, n=size, temperature=temperature)
            extra = [[extract_answer(t) for t in g] for g in texts(generator.generate(prompts, spec))]
        anchors: list[str | None] = [None] * len(prompts)
        if greedy:
            spec = SamplingSpec.greedy_spec(cfg.rollout.max_new_tokens)
            anchors = [extract_answer(g[0]) for g in texts(generator.generate(prompts, spec))]
        return list(zip(extra, anchors, strict=True))

    return sample


def reward_functions(
    cfg: Config, vote: MajorityVoteReward, data: rundata.RunData, model: Any, tokenizer: Any
) -> tuple[list[Any], list[float]]:
    build = REWARDS[cfg.reward.kind]
    if build is None:
        return [vote], [1.0]
    return [vote, build(cfg, data, model, tokenizer)], [0.0, 1.0]


# ------------------------------------------------------------------------------------------------- trainer


def build_trainer(
    cfg: Config,
    backend: Backend,
    model: Any,
    tokenizer: Any,
    data: rundata.RunData,
    scheduler: CurriculumScheduler,
    metrics: JsonlLog,
    samples: JsonlLog,
) -> Any:
    """The CuMa GRPO trainer for this config (majority-vote reward, exact mask, curriculum sampler)."""
    from accelerate import PartialState
    from accelerate.utils import gather_object
    from transformers.trainer_callback import PrinterCallback

    from cuma_lite.training.callbacks import MetricsCallback, RichProgressCallback
    from cuma_lite.training.trainer import CurriculumSampler, cuma_trainer_class
    from cuma_lite.training.trl_compat import install_logprob_fallback

    install_logprob_fallback()  # trl 1.15 without Triton (CPU) cannot compute GRPO log-probs otherwise
    state = PartialState()
    g, prompts, ga = (
        cfg.rollout.num_generations,
        cfg.train.prompts_per_step,
        cfg.train.gradient_accumulation_steps,
    )
    generation_batch = prompts * g
    if generation_batch % (state.num_processes * ga):
        raise UserError(
            f"train.prompts_per_step * rollout.num_generations = {generation_batch} must divide evenly over "
            f"{state.num_processes} process(es) x {ga} accumulation step(s); adjust train.prompts_per_step."
        )
    sampler = CurriculumSampler(
        scheduler, prompts_per_generation=prompts, num_generations=g, repeat_count=ga,
        total_generations=cfg.train.max_steps,
    )  # fmt: skip
    vote = MajorityVoteReward(
        g,
        min_share=cfg.vote.min_share,
        shaping=cfg.reward.shaping(),
        pool=pool_sampler(cfg, backend, model, tokenizer),
        gather=gather_object,
        process_index=state.process_index,
    )
    reward_funcs, weights = reward_functions(cfg, vote, data, model, tokenizer)
    per_device = generation_batch // (state.num_processes * ga)
    trainer = cuma_trainer_class(backend.trainer_base())(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_config(cfg, backend, per_device=per_device, reward_weights=weights),
        train_dataset=rundata.training_dataset(data.train, scheduler, cfg),
        processing_class=tokenizer,
        vote_reward=vote,
        sampler=sampler,
        on_votes=VoteLog(samples, data.gold, cfg.train.samples_per_step if state.is_main_process else 0),
        mask_normaliser=cfg.vote.mask_normaliser,
        min_groups_per_update=cfg.train.min_groups_per_update,
        vote_is_reward=cfg.reward.kind == "majority",
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; our progress bar shows the signals
    trainer.add_callback(MetricsCallback(metrics, scheduler, also_truncate=(samples,)))
    trainer.add_callback(RichProgressCallback())
    if cfg.train.collapse_guard != "off":
        from cuma_lite.training.guard import CollapseGuard, GuardLimits

        trainer.add_callback(
            CollapseGuard(
                cfg.train.collapse_guard,
                GuardLimits(window=cfg.train.guard_window, drift_ceiling=cfg.train.guard_drift),
                look=_guard_look(cfg, backend, tokenizer, data.train),
                rollouts=cfg.curriculum.mode == "off",  # a curriculum moves them: false alarms
            )
        )
    return trainer


def _guard_look(
    cfg: Config, backend: Backend, tokenizer: Any, train: list[dict[str, Any]]
) -> GreedyLook | None:
    """The collapse guard's look at the policy on ``train.guard_prompts`` fixed training prompts (their text only):
    greedy answers (churn) and their drift from the start, for a label-free reward on the ``hf`` backend (a gold
    reward's labels vouch for its moves). None when off, or where generating spoils training (4-bit on CPU)."""
    if not cfg.train.guard_prompts or backend.generation_spoils_training():
        return None
    import random

    from cuma_lite.prompts import format_prompt
    from cuma_lite.training.lookout import GreedyLook

    chosen = random.Random(cfg.train.seed).sample(train, min(cfg.train.guard_prompts, len(train)))
    prompts = [format_prompt(item["problem"], cfg.model.prompt_style) for item in chosen]
    # drift needs the model's logits from a plain forward pass: verified on hf; Unsloth's patched model is not (no GPU)
    drift = backend.name == "hf" and cfg.reward.kind != "gold" and cfg.train.guard_drift > 0
    return GreedyLook(backend, tokenizer, prompts, cfg.rollout.max_new_tokens, drift=drift)


def grpo_config(cfg: Config, backend: Backend, *, per_device: int, reward_weights: list[float]) -> Any:
    """``cfg`` as the ``GRPOConfig`` in use (TRL's, or Unsloth's after ``import unsloth``)."""
    from trl import GRPOConfig

    _check_reporters(cfg.train.report_to)
    return GRPOConfig(**grpo_arguments(cfg, backend, per_device=per_device, reward_weights=reward_weights))


def grpo_arguments(
    cfg: Config, backend: Backend, *, per_device: int, reward_weights: list[float]
) -> dict[str, Any]:
    """The ``GRPOConfig`` arguments of a run: one recipe, every training choice explicit, so that Unsloth's config
    (which replaces TRL's defaults: docs/gpu-path.md, section 4) trains what the ``hf`` backend trains. Only the
    backend's rollout engine differs (:meth:`Backend.grpo_overrides`)."""
    import torch

    from cuma_lite.backends.hf import torch_dtype

    cuda = torch.cuda.is_available()
    dtype = torch_dtype(cfg)
    return dict(
        output_dir=str(Path(cfg.train.output_dir)),
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
        lr_scheduler_type=cfg.train.lr_scheduler,
        warmup_steps=cfg.train.warmup_ratio,  # transformers 5: a float < 1 is a share of max_steps
        optim=cfg.train.optim,
        weight_decay=cfg.train.weight_decay,
        epsilon=cfg.train.epsilon,
        epsilon_high=cfg.train.epsilon_high,
        entropy_coef=cfg.train.entropy_coef,
        mask_truncated_completions=cfg.train.mask_truncated_completions,
        vllm_importance_sampling_correction=cfg.train.vllm_importance_sampling_correction,
        max_steps=cfg.train.max_steps,
        beta=cfg.train.beta,
        loss_type=cfg.train.loss_type,
        scale_rewards=cfg.train.scale_rewards,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.train.save_steps,
        save_total_limit=2,
        report_to=list(cfg.train.report_to),
        disable_tqdm=True,
        seed=cfg.train.seed,
        data_seed=cfg.train.seed,
        ignore_data_skip=True,  # the curriculum sampler resumes from its own state, not by replaying draws
        shuffle_dataset=False,
        log_completions=False,
        reward_weights=reward_weights,
        **backend.grpo_overrides(),
    )


def _check_reporters(report_to: list[str]) -> None:
    import importlib.util

    package = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}
    missing = [r for r in report_to if importlib.util.find_spec(package[r]) is None]
    if missing:
        raise UserError(f"train.report_to={missing}: not installed here; pip install {' '.join(missing)}.")


# --------------------------------------------------------------------------------------------- save, summary


def save_final(trainer: Any, tokenizer: Any, cfg: Config, backend: Backend, out: Path) -> Path:
    """``adapter/`` (peft-loadable LoRA) or ``model/`` (a full fine-tune, transformers-loadable), plus tokenizer."""
    final_dir = out / ("adapter" if cfg.lora.r > 0 else "model")
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if cfg.lora.r > 0:
            backend.save_adapter(model, final_dir)
        else:
            model.save_pretrained(final_dir, safe_serialization=True)
        tokenizer.save_pretrained(final_dir)
    trainer.accelerator.wait_for_everyone()
    return final_dir


def summarise(
    cfg: Config,
    metrics: JsonlLog,
    out: Path,
    final_dir: Path,
    seconds: float,
    before: Any,
    after: Any,
    guard: dict[str, Any] | None = None,
) -> dict[str, Any]:
    steps = [m for m in metrics.records() if "mask_rate" in m]  # training steps (not eval lines)
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
        "reward_kind": cfg.reward.kind,
        "label_free": cfg.reward.label_free,
        "collapse_guard": guard,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _print_result(
    console: Any, summary: dict[str, Any], before: Any, after: Any, seconds: float, final: Path
) -> None:
    if before is not None and after is not None:
        from cuma_lite.evaluation import format_accuracy_table

        console.print(
            format_accuracy_table(before, after, title="Held-out greedy accuracy (gold answers, eval only)")
        )
    if not summary["label_free"]:
        console.print("[yellow]reward.kind=gold: a supervised control, not label-free[/]")
    console.print(
        f"[bold green]done[/] in {seconds:.0f} s: {summary['steps']} steps, "
        f"mean mask rate {summary['mean_mask_rate']:.2f}, final weights in [bold]{final}[/]"
    )


def _is_cuda_oom(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(error)


def _oom_advice(cfg: Config) -> str:
    """The knobs to lower and the planner's view (the checkpoints already written are untouched)."""
    import torch

    from cuma_lite.gpu.plan import oom_advice

    card = torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else None
    return oom_advice(cfg, card)
