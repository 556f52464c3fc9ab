"""The config tree: one dataclass per section, each field with a default, a type and one line of help.

Sections are validated in ``__post_init__``; a message states the invariant, then the fix (TRL's ``GRPOConfig``
is the model). The help of every field is its ``metadata["help"]``: ``cuma-lite presets show NAME --resolved``
prints it next to the value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cuma_lite.errors import ConfigError

if TYPE_CHECKING:
    from cuma_lite.shaping import Shaping

EMBEDDED_MODEL = "embedded:tiny-math"
LORA_RANKS_VLLM = (8, 16, 32, 64, 128, 256, 320, 512)
CURRICULUM_MODES: tuple[str, ...] = ("off", "stages", "pacing", "adaptive", "band")
PACING_FUNCTIONS: tuple[str, ...] = ("linear", "sqrt")
DIFFICULTY_SOURCES: tuple[str, ...] = ("given", "estimate", "none")
REWARD_KINDS: tuple[str, ...] = ("majority", "self_certainty", "entropy", "gold")
REPORT_TO: tuple[str, ...] = ("tensorboard", "wandb", "trackio")


def opt(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = None) -> Any:
    """A dataclass field with its one line of help (``metadata["help"]``)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


def field_help(section: Any, name: str) -> str:
    """The help line of ``section.name`` ("" when it has none)."""
    return next((f.metadata.get("help", "") for f in dataclasses.fields(section) if f.name == name), "")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass
class ModelConfig:
    name: str = opt(
        EMBEDDED_MODEL, "hub id, local model directory, or embedded:NAME (a model shipped in the package)"
    )
    backend: Literal["hf", "unsloth"] = opt(
        "hf",
        "hf: transformers + peft (CPU or GPU); unsloth: 4-bit QLoRA with shared-weight vLLM rollouts (GPU)",
    )
    load_in_4bit: bool = opt(False, "load the base in bitsandbytes NF4 (QLoRA); needs lora.r > 0")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = opt(
        "auto", "compute dtype; auto = bf16 on a GPU that has it, else fp16 on GPU, fp32 on CPU"
    )
    max_seq_length: int = opt(256, "prompt + completion tokens the policy must hold")
    gpu_memory_utilization: float = opt(
        0.6,
        "unsloth backend: share of GPU memory the vLLM engine may take; it takes effect as given (cuma-lite sets "
        "UNSLOTH_VLLM_STANDBY_UTIL_OVERRIDE, or Standby would replace it by a tier of the card)",
    )
    fast_inference: bool = opt(
        True, "unsloth backend: roll out through the vLLM engine sharing the 4-bit weights"
    )
    vllm_standby: bool = opt(
        True, "unsloth backend: UNSLOTH_VLLM_STANDBY=1 (vLLM sleeps while the trainer runs)"
    )
    prompt_style: Literal["plain", "chat"] = opt(
        "plain",
        "plain: 'Q: ...\\nA: ' (the embedded models); chat: the tokenizer's chat template (instruct models)",
    )

    def __post_init__(self) -> None:
        _check(
            bool(self.name),
            "model.name is empty: give a hub id, a local model directory, or embedded:tiny-math.",
        )
        _check(
            self.max_seq_length >= 16, f"model.max_seq_length={self.max_seq_length} is too small; use >= 16."
        )
        _check(
            0.05 <= self.gpu_memory_utilization <= 0.98,
            f"model.gpu_memory_utilization={self.gpu_memory_utilization} must be in [0.05, 0.98]; "
            "0.5-0.7 is usual, 0.9 with UNSLOTH_VLLM_STANDBY=1.",
        )


@dataclass
class LoraConfig:
    r: int = opt(16, "LoRA rank; 0 = full fine-tune (what a ~1M-parameter model needs)")
    alpha: int = opt(32, "LoRA scaling numerator (commonly 2 * r)")
    dropout: float = opt(0.0, "LoRA dropout; 0 keeps generation and training on the same function")
    target_modules: list[str] = opt(
        help="module names to adapt (those absent from the model are skipped)",
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )

    def __post_init__(self) -> None:
        _check(self.r >= 0, f"lora.r={self.r} is negative; use 0 for a full fine-tune or a rank like 16.")
        _check(self.alpha > 0, f"lora.alpha={self.alpha} must be positive (commonly 2 * lora.r).")
        _check(0.0 <= self.dropout < 1.0, f"lora.dropout={self.dropout} must be in [0, 1).")
        _check(bool(self.target_modules), "lora.target_modules is empty; list the module names to adapt.")


@dataclass
class RolloutConfig:
    num_generations: int = opt(
        8, "group size G: completions per prompt, over which the majority vote is taken"
    )
    max_new_tokens: int = opt(64, "completion budget; a completion cut here usually states no answer")
    temperature: float = opt(1.0, "sampling temperature of the rollouts (TTRL: 1.0)")
    top_p: float = opt(1.0, "nucleus sampling of the rollouts (1 = off)")
    top_k: int = opt(0, "top-k sampling of the rollouts (0 = off)")

    def __post_init__(self) -> None:
        _check(
            self.num_generations >= 2,
            f"rollout.num_generations={self.num_generations}: a vote needs at least 2 samples; 8 is usual.",
        )
        _check(self.max_new_tokens >= 1, f"rollout.max_new_tokens={self.max_new_tokens} must be >= 1.")
        _check(self.temperature > 0, f"rollout.temperature={self.temperature} must be > 0 (1.0 is usual).")
        _check(0 < self.top_p <= 1, f"rollout.top_p={self.top_p} must be in (0, 1].")
        _check(self.top_k >= 0, f"rollout.top_k={self.top_k} must be >= 0 (0 disables it).")


@dataclass
class VoteConfig:
    min_share: float = opt(
        0.5,
        "no-majority mask: a group whose largest answer class holds <= this share gives no gradient "
        "(0.5 = strict majority, 0 = plain TTRL)",
    )
    mask_normaliser: Literal["unmasked", "batch"] = opt(
        "unmasked",
        "unmasked: the loss is normalised over unmasked tokens, so a masked group is a removed group; "
        "batch (dapo, an ablation): masked tokens stay in the normaliser, as TRL's None reward alone would",
    )

    pool_size: int = opt(
        0,
        "extra untrained samples per prompt the vote is taken over (0: the group's own); shares get less noisy",
    )
    pool_temperature: float | None = opt(
        None, "sampling temperature of the pool's extra samples (null: the rollouts')"
    )

    def __post_init__(self) -> None:
        _check(
            0.0 <= self.min_share < 1.0,
            f"vote.min_share={self.min_share} must be in [0, 1): 0 is TTRL, 0.5 a strict majority, "
            "0.75 requires 7 of 8.",
        )
        _check(
            self.pool_size >= 0,
            f"vote.pool_size={self.pool_size} must be >= 0 (0 = the group's own samples).",
        )
        _check(
            self.pool_temperature is None or self.pool_temperature > 0,
            f"vote.pool_temperature={self.pool_temperature} must be > 0, or null for the rollouts' temperature.",
        )


@dataclass
class RewardConfig:
    kind: Literal["majority", "self_certainty", "entropy", "gold"] = opt(
        "majority",
        "majority: agreement with the group's vote (TTRL/CuMa); self_certainty: Intuitor; entropy: RENT; "
        "gold: agreement with the gold answer, a SUPERVISED control, never label-free",
    )

    positive: float = opt(1.0, "reward for agreeing with the pseudo-label (TTRL: 1)")
    ramp_from: float = opt(0.0, "label share below which agreement earns nothing (a soft no-majority mask)")
    ramp_to: float = opt(
        0.0, "label share from which agreement earns the full reward (linear from ramp_from)"
    )
    negative: float = opt(
        0.0,
        "penalty for a completion whose answer is rare in the pool, or missing (label-free negatives; 0: off)",
    )
    rare_share: float = opt(
        0.0, "an answer whose share of the pool is at most this is rare (0.125: once in 8)"
    )
    center: bool = opt(
        True,
        "centre rewards within each group (GRPO); false: the rewards are the advantages (negatives stay negative)",
    )
    label: Literal["plurality", "greedy"] = opt(
        "plurality",
        "the pseudo-label (reward.kind=majority): the vote's plurality answer (TTRL), or the policy's own greedy answer",
    )
    consolidate: float = opt(
        0.0,
        "consensus consolidation: an uncentred advantage added to the completions that agree with the label in "
        "groups whose label share is at least consolidate_share (a supervised term on high-consensus traces; 0: off)",
    )
    consolidate_share: float = opt(
        0.875, "the label share from which a group is consolidated (0.875: 7 of 8)"
    )

    def shaping(self) -> Shaping:
        """The vote reward's shaping (with another reward kind the vote only logs, so it labels by plurality)."""
        from cuma_lite.shaping import Shaping

        label = self.label if self.kind == "majority" else "plurality"
        return Shaping(
            self.positive,
            self.ramp_from,
            self.ramp_to,
            self.negative,
            self.rare_share,
            self.center,
            label,
            consolidate=self.consolidate,
            consolidate_share=self.consolidate_share,
        )

    def __post_init__(self) -> None:
        _check(self.positive >= 0 and self.negative >= 0, "reward.positive and reward.negative must be >= 0.")
        for key in ("ramp_from", "ramp_to", "rare_share"):
            value = getattr(self, key)
            _check(0.0 <= value < 1.0, f"reward.{key}={value} must be a share in [0, 1).")
        _check(
            self.consolidate >= 0 and 0 < self.consolidate_share <= 1,
            f"reward.consolidate={self.consolidate} must be >= 0 and reward.consolidate_share="
            f"{self.consolidate_share} a share in (0, 1].",
        )
        # the label is not checked: a preset's reward.label=greedy stays harmless under --set reward.kind=gold
        shaped = (
            self.positive != 1,
            self.ramp_from,
            self.ramp_to,
            self.negative,
            not self.center,
            self.consolidate,
        )
        _check(
            self.kind == "majority" or not any(shaped),
            f"reward.kind={self.kind}: reward.positive/ramp/negative/center/consolidate shape the vote's reward "
            "only; use reward.kind=majority with them.",
        )

    @property
    def label_free(self) -> bool:
        return self.kind != "gold"


@dataclass(frozen=True)
class CurriculumConfig:
    """How prompts are scheduled by difficulty (:class:`cuma_lite.curriculum.CurriculumScheduler`)."""

    mode: Literal["off", "stages", "pacing", "adaptive", "band"] = opt(
        "adaptive",
        "off (TTRL: shuffle everything), stages (level k unlocks at k/L of training), pacing "
        "(competence-based), adaptive (unlock the next level when the newest level's mask rate is low), band "
        "(draw levels by how often their recent groups' agreement with the label lies in [band_low, band_high])",
    )
    replay: float = opt(
        0.25, "stages/adaptive: share of each draw taken from easier, already unlocked levels"
    )
    pacing: Literal["linear", "sqrt"] = opt(
        "sqrt", "pacing: the competence function (Platanios et al., 2019)"
    )
    start_competence: float = opt(0.1, "pacing: share of the (easiest) items in the pool at step 0")
    mask_threshold: float = opt(0.3, "adaptive: unlock the next level when its mask rate falls below this")
    window: int = opt(
        64, "adaptive/band: the mask rate (band: the in-band share) is over a level's last `window` groups"
    )
    min_observations: int = opt(32, "adaptive: no mask-rate unlock before a level has this many observations")
    band_low: float = opt(
        0.3, "band: a group is in the band when its label's share of the samples is at least this ..."
    )
    band_high: float = opt(0.8, "band: ... and at most this (R-Zero and SeRL keep about 0.3-0.8)")
    band_floor: float = opt(
        0.1,
        "band: every level's draw weight is at least this, so a level out of the band is still seen and can "
        "come back when its agreement moves",
    )
    max_dwell: int | None = opt(
        None, "adaptive: unlock the next level after this many steps regardless (null = never)"
    )
    num_levels: int = opt(
        5, "quantile bins for float difficulties (integer difficulties are levels as they are)"
    )
    difficulty_source: Literal["given", "estimate", "none"] = opt(
        "given",
        "given: the data's difficulty column; estimate: the base policy's majority share, measured label-free "
        "before training; none: one level",
    )

    def __post_init__(self) -> None:
        _check(
            self.mode in CURRICULUM_MODES,
            f"curriculum.mode={self.mode!r} is not a mode; choose one of {', '.join(CURRICULUM_MODES)} "
            "(off = TTRL baseline).",
        )
        _check(
            0.0 <= self.replay < 1.0,
            f"curriculum.replay={self.replay} must be in [0, 1): it is the share of each draw from easier levels "
            "(1 would never draw the newest level); 0.25 is usual.",
        )
        _check(
            self.pacing in PACING_FUNCTIONS,
            f"curriculum.pacing={self.pacing!r} is not a pacing function; choose linear or sqrt.",
        )
        _check(
            0.0 < self.start_competence <= 1.0,
            f"curriculum.start_competence={self.start_competence} must be in (0, 1]: the share of the easiest "
            "items available at step 0 (e.g. 0.1); 1 means no curriculum.",
        )
        _check(
            0.0 <= self.mask_threshold <= 1.0,
            f"curriculum.mask_threshold={self.mask_threshold} must be in [0, 1]: a mask rate (e.g. 0.3); "
            "0 disables unlocking on the mask rate.",
        )
        _check(self.window >= 1, f"curriculum.window={self.window} must be >= 1 (e.g. 64 observations).")
        _check(
            1 <= self.min_observations <= self.window,
            f"curriculum.min_observations={self.min_observations} must be in [1, curriculum.window="
            f"{self.window}]; a window never holds more than `window` observations.",
        )
        _check(
            0.0 <= self.band_low < self.band_high <= 1.0,
            f"curriculum.band_low={self.band_low}, band_high={self.band_high}: need 0 <= band_low < band_high "
            "<= 1 (shares of a group's samples that agree with its label; e.g. 0.3 and 0.8).",
        )
        _check(
            0.0 < self.band_floor <= 1.0,
            f"curriculum.band_floor={self.band_floor} must be in (0, 1]: the least draw weight of a level "
            "(0 could starve a level for good, since only drawn levels are observed); e.g. 0.1.",
        )
        _check(
            self.max_dwell is None or self.max_dwell >= 1,
            f"curriculum.max_dwell={self.max_dwell} must be >= 1 step, or null to unlock on the mask rate only.",
        )
        _check(
            self.difficulty_source in DIFFICULTY_SOURCES,
            f"curriculum.difficulty_source={self.difficulty_source!r}: choose one of "
            f"{', '.join(DIFFICULTY_SOURCES)}.",
        )
        _check(self.num_levels >= 1, f"curriculum.num_levels={self.num_levels} must be >= 1 (e.g. 5 bins).")


@dataclass
class DataConfig:
    path: str | None = opt(
        None,
        "prompt file (JSONL, CSV, Parquet, a saved datasets dir, a hub dataset); null = synthetic problems",
    )
    problem_field: str = opt("problem", "column holding the problem text")
    answer_field: str = opt("answer", "column holding the gold answer (evaluation and diagnostics only)")
    difficulty_field: str = opt("difficulty", "column holding the difficulty (an integer level or a float)")
    synth_task: str = opt(
        "arithmetic", "synthetic family when data.path is null (`cuma-lite data synth --list`)"
    )
    synth_levels: str = opt(
        "1-5",
        "synthetic difficulty levels, e.g. 1-5 or 1,3,5 (the held-out evaluation draws the same levels)",
    )
    synth_per_level: int = opt(200, "synthetic training problems per level")
    synth_split: Literal["rl", "val", "test", "sft"] | None = opt(
        None, "draw the synthetic RL prompts from one disjoint split (rl: the ladder bases never saw them)"
    )

    def __post_init__(self) -> None:
        from cuma_lite.data.families import family_levels, family_names

        _check(self.synth_per_level >= 1, f"data.synth_per_level={self.synth_per_level} must be >= 1.")
        names = family_names()
        _check(
            self.synth_task in names,
            f"data.synth_task={self.synth_task!r} is not a problem family; choose one of {', '.join(names)}.",
        )
        levels, valid = parse_levels(self.synth_levels), family_levels(self.synth_task)
        outside = [lv for lv in levels if lv not in valid]
        _check(
            not outside,
            f"data.synth_levels={self.synth_levels!r}: {self.synth_task} has levels "
            f"{min(valid)}-{max(valid)}; {outside} are outside them.",
        )


@dataclass
class EvalConfig:
    """Held-out greedy evaluation with gold answers: diagnostics only, never a reward."""

    per_level: int = opt(
        50, "held-out problems per level (synthetic: freshly generated; a file: rows set aside)"
    )
    every: int = opt(0, "also evaluate every N training steps (0 = before and after only)")
    batch_size: int = opt(64, "sequences per generate call in evaluation and difficulty estimation")
    seed: int = opt(
        1000, "seed of the synthetic held-out set (1000: the one the original bases' SFT left out)"
    )
    split: Literal["val", "test"] | None = opt(
        None,
        "draw the synthetic held-out set from a disjoint split: val to choose settings, test to judge them",
    )

    def __post_init__(self) -> None:
        _check(self.per_level >= 0, f"eval.per_level={self.per_level} must be >= 0 (0 = no evaluation).")
        _check(self.every >= 0, f"eval.every={self.every} must be >= 0 (0 = only before and after).")
        _check(self.batch_size >= 1, f"eval.batch_size={self.batch_size} must be >= 1.")


@dataclass
class TrainConfig:
    max_steps: int = opt(100, "optimisation steps (one generation batch each)")
    learning_rate: float = opt(2e-5, "peak learning rate; label-free RL collapses when it is too high")
    lr_scheduler: Literal["constant", "linear", "cosine"] = opt(
        "constant",
        "learning-rate schedule over max_steps (TRL's lr_scheduler_type): constant, or decaying to 0 linearly or "
        "along a cosine",
    )
    warmup_ratio: float = opt(
        0.0,
        "share of max_steps over which the learning rate rises from 0 to its peak (Unsloth's config default is 0.1; "
        "passed explicitly, so both backends train the same)",
    )
    seed: int = opt(0, "seed of the model's sampling, the data draws and the curriculum")
    output_dir: str = opt("runs/cuma", "run directory: config, metrics, samples, checkpoints, final weights")
    prompts_per_step: int = opt(8, "prompts per step; each is sampled rollout.num_generations times")
    beta: float = opt(
        0.0, "KL coefficient to the reference model (0 = none, and no reference model is loaded)"
    )
    loss_type: Literal["dapo", "bnpo"] = opt(
        "dapo",
        "GRPO loss normalised by token count: the two for which a masked group is exactly a removed one",
    )
    scale_rewards: Literal["group", "batch", "none"] = opt(
        "none", "divide advantages by the reward std of the group or batch (none: Dr. GRPO's unbiased choice)"
    )
    save_steps: int = opt(25, "checkpoint every N steps (with the curriculum state, for --resume)")
    samples_per_step: int = opt(
        2, "groups per step written to samples.jsonl (completions, answers, vote, mask)"
    )
    gradient_accumulation_steps: int = opt(
        1, "micro-batches per optimisation step (the generation batch is split)"
    )
    gradient_checkpointing: bool = opt(False, "recompute activations in the backward pass (saves GPU memory)")
    optim: Literal["adamw_torch_fused", "adamw_torch", "adamw_8bit", "paged_adamw_8bit"] = opt(
        "adamw_torch_fused",
        "optimiser, the same on both backends (Unsloth's own default would be adamw_8bit)",
    )
    weight_decay: float = opt(0.0, "AdamW weight decay, the same on both backends (Unsloth's default: 0.001)")
    epsilon: float = opt(
        0.2,
        "PPO clip range below the ratio 1 (TRL: inert at one update per generation batch, where the ratio is 1)",
    )
    epsilon_high: float = opt(
        0.2,
        "PPO clip range above 1; 0.2 is symmetric clipping (DAPO's clip-higher uses 0.28, Unsloth's dapo default)",
    )
    entropy_coef: float = opt(
        0.0,
        "entropy bonus: the loss minus this times the mean token entropy of the trained completions (TRL's and "
        "Unsloth's entropy_coef; masked groups stay out of it). 0 = none",
    )
    mask_truncated_completions: bool = opt(
        False,
        "leave completions cut by rollout.max_new_tokens out of the loss (Unsloth turns it on for dapo)",
    )
    vllm_importance_sampling_correction: bool = opt(
        False,
        "vLLM rollouts: correct for vLLM-vs-trainer log-prob differences (TRL's default on, Unsloth's off)",
    )
    min_groups_per_update: int = opt(
        0,
        "bank gradients across steps until this many informative groups (unmasked, not unanimous) are in "
        "(0 = update every step)",
    )
    collapse_guard: Literal["off", "warn", "stop"] = opt(
        "off",
        "watch label-free collapse signals (entropy, agreement, parse rate, length, answer churn, drift from the "
        "start) against the run's start: warn, or stop and roll back (under a curriculum, churn and drift only: the "
        "others move as levels unlock)",
    )
    guard_window: int = opt(
        5,
        "collapse guard: steps the signals are averaged over (and between weight snapshots and churn checks)",
    )
    guard_prompts: int = opt(
        200,
        "collapse guard: training prompts (unlabelled) the policy answers greedily every guard_window steps, whose "
        "answer churn and drift from the start it watches (0 = neither; costs one greedy decode and one forward "
        "pass of them a check)",
    )
    guard_drift: float = opt(
        0.25,
        "collapse guard: how much less likely (mean NLL, as a share over the start's own) the start's weights may "
        "find the greedy completions before it fires; label-free rewards only (0 = no drift check). Label-free runs "
        "at lr 2e-5 reached 0.10-0.28 in 80 steps, so a longer run needs a larger budget",
    )
    report_to: list[str] = opt(
        help="also log to: tensorboard, wandb, trackio (none by default); our CuMa metrics go in the same stream",
        factory=list,
    )

    def __post_init__(self) -> None:
        _check(self.max_steps >= 1, f"train.max_steps={self.max_steps} must be >= 1.")
        _check(
            0 < self.learning_rate < 1,
            f"train.learning_rate={self.learning_rate} must be in (0, 1); label-free RL needs it low (1e-6-5e-5).",
        )
        _check(
            0 <= self.warmup_ratio < 1,
            f"train.warmup_ratio={self.warmup_ratio} must be in [0, 1): a share of train.max_steps (0 = no warmup).",
        )
        _check(self.prompts_per_step >= 1, f"train.prompts_per_step={self.prompts_per_step} must be >= 1.")
        _check(self.beta >= 0, f"train.beta={self.beta} must be >= 0 (0 = no KL term, no reference model).")
        _check(
            0 < self.epsilon < 1 and 0 < self.epsilon_high < 1,
            f"train.epsilon={self.epsilon}, train.epsilon_high={self.epsilon_high}: clip ranges must be in (0, 1); "
            "0.2 is usual.",
        )
        _check(self.weight_decay >= 0, f"train.weight_decay={self.weight_decay} must be >= 0.")
        _check(
            self.entropy_coef >= 0,
            f"train.entropy_coef={self.entropy_coef} must be >= 0 (a bonus for entropy; 0 = none).",
        )
        _check(self.save_steps >= 1, f"train.save_steps={self.save_steps} must be >= 1.")
        _check(
            self.min_groups_per_update >= 0,
            f"train.min_groups_per_update={self.min_groups_per_update} must be >= 0 (0 = update every step).",
        )
        _check(bool(self.output_dir), "train.output_dir is empty; give a directory for this run's outputs.")
        _check(self.guard_window >= 1, f"train.guard_window={self.guard_window} must be >= 1.")
        _check(
            self.guard_prompts >= 0,
            f"train.guard_prompts={self.guard_prompts} must be >= 0 (0 = no churn check).",
        )
        _check(
            self.guard_drift >= 0, f"train.guard_drift={self.guard_drift} must be >= 0 (0 = no drift check)."
        )
        self.report_to = [r for r in self.report_to if r != "none"]
        unknown = [r for r in self.report_to if r not in REPORT_TO]
        _check(
            not unknown,
            f"train.report_to={unknown}: choose from none, {', '.join(REPORT_TO)} (e.g. train.report_to=tensorboard).",
        )


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    vote: VoteConfig = field(default_factory=VoteConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model.backend == "unsloth" and self.lora.r:
            _check(
                self.lora.r in LORA_RANKS_VLLM,
                f"lora.r={self.lora.r}: vLLM serves LoRA ranks {list(LORA_RANKS_VLLM)} only; pick one of them.",
            )
        _check(
            not (self.model.backend == "unsloth" and self.lora.r == 0),
            "model.backend=unsloth trains LoRA adapters only; set lora.r (e.g. 16) or use model.backend=hf.",
        )
        _check(
            not (self.model.load_in_4bit and self.lora.r == 0),
            "model.load_in_4bit=true trains a LoRA adapter over frozen 4-bit weights; set lora.r (e.g. 16).",
        )
        _check(
            self.vote.mask_normaliser == "unmasked" or self.train.loss_type == "dapo",
            "vote.mask_normaliser=batch needs train.loss_type=dapo (its normaliser spans the generation batch).",
        )
        _check(
            not self.train.min_groups_per_update or self.vote.mask_normaliser == "unmasked",
            "train.min_groups_per_update needs vote.mask_normaliser=unmasked (the bank weights each step by its "
            "unmasked tokens).",
        )
        _check(
            (self.reward.center and not self.reward.consolidate) or self.train.scale_rewards == "none",
            "reward.center=false and reward.consolidate make the advantages themselves: they need "
            "train.scale_rewards=none.",
        )
        _check(
            self.train.scale_rewards != "batch" or self.reward.kind == "majority",
            f"train.scale_rewards=batch with reward.kind={self.reward.kind}: masked groups keep that reward, so "
            "their rewards would rescale the others' advantages; use train.scale_rewards=group (or none).",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_levels(spec: str) -> list[int]:
    """``"1-5"`` -> [1, 2, 3, 4, 5]; ``"1,3,5"`` -> [1, 3, 5]; ``"2"`` -> [2]."""
    try:
        levels: list[int] = []
        for part in str(spec).split(","):
            lo, sep, hi = part.strip().partition("-")
            levels.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise ConfigError(f"levels {spec!r} is not a level list; write e.g. 1-5 or 1,3,5.") from None
    _check(bool(levels), f"levels {spec!r} is empty; write e.g. 1-5.")
    return sorted(set(levels))
