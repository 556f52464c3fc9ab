"""One typed config tree, filled by a YAML preset and overridden by dotted ``key=value`` strings.

    cfg = load_config("tiny-cpu", overrides=["train.learning_rate=1e-5", "vote.min_share=0"])

Every section is a dataclass validated in ``__post_init__``; messages say what is wrong *and what to do*.
Unknown keys are an error (never ignored) and list the valid ones; values are coerced from the YAML/CLI
string to the field's annotated type, and a value that cannot be coerced names the expected type.

The curriculum section is the core's own :class:`cuma_lite.curriculum.CurriculumConfig`: one definition,
used by the scheduler and by the presets alike.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from cuma_lite.curriculum import CurriculumConfig
from cuma_lite.errors import ConfigError

EMBEDDED_MODEL = "embedded:tiny-math"
LORA_RANKS_VLLM = (8, 16, 32, 64, 128, 256, 320, 512)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass
class ModelConfig:
    name: str = EMBEDDED_MODEL
    """A hub id, a local directory, or ``embedded:tiny-math`` (the ~1M-parameter model shipped in the package)."""
    backend: Literal["hf", "unsloth"] = "hf"
    load_in_4bit: bool = False
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_seq_length: int = 256
    gpu_memory_utilization: float = 0.6
    """Share of GPU memory vLLM may take (unsloth backend only)."""
    fast_inference: bool = True
    """unsloth backend: roll out through the vLLM engine that shares the policy's 4-bit weights."""
    vllm_standby: bool = True
    """unsloth backend: ``UNSLOTH_VLLM_STANDBY=1`` (vLLM sleeps while the trainer uses its memory)."""
    prompt_style: Literal["plain", "chat"] = "plain"
    """``plain`` for the embedded tiny model (``Q: ...\nA: ``), ``chat`` for instruct models (chat template)."""

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
    r: int = 16
    """LoRA rank; 0 means a full fine-tune (a ~1M-parameter model may need it)."""
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )

    def __post_init__(self) -> None:
        _check(self.r >= 0, f"lora.r={self.r} is negative; use 0 for a full fine-tune or a rank like 16.")
        _check(self.alpha > 0, f"lora.alpha={self.alpha} must be positive (commonly 2 * lora.r).")
        _check(0.0 <= self.dropout < 1.0, f"lora.dropout={self.dropout} must be in [0, 1).")
        _check(bool(self.target_modules), "lora.target_modules is empty; list the module names to adapt.")


@dataclass
class RolloutConfig:
    num_generations: int = 8
    """Group size G: completions sampled per prompt, over which the majority vote is taken."""
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0

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
    min_share: float = 0.5
    """No-majority mask: a group whose largest answer class holds <= min_share of its votes gives no gradient.
    0.5 = a strict majority is required; 0 = plain TTRL (nothing masked unless no answer parses)."""

    mask_normaliser: Literal["unmasked", "batch"] = "unmasked"
    """``unmasked``: the loss is normalised over unmasked tokens only, so a masked group is exactly a removed
    group. ``batch`` (``train.loss_type=dapo`` only): masked tokens still count in the normaliser, which scales a
    mostly-masked step down (TRL's behaviour for ``None`` rewards; an ablation)."""

    def __post_init__(self) -> None:
        _check(
            0.0 <= self.min_share < 1.0,
            f"vote.min_share={self.min_share} must be in [0, 1): 0 is TTRL, 0.5 a strict majority, "
            "0.75 requires 7 of 8.",
        )


@dataclass
class RewardConfig:
    kind: Literal["majority", "self_certainty", "entropy", "gold"] = "majority"
    """``majority``: 1 if the answer agrees with the group's majority (TTRL; CuMa with the mask).
    ``self_certainty``: Intuitor's mean per-token KL(uniform || policy). ``entropy``: RENT's negative mean token
    entropy. ``gold``: 1 if the answer equals the row's gold ``answer`` -- a *supervised* control for experiments,
    never label-free. The vote (and so the no-majority mask, ``vote.min_share``) is computed for every kind."""


@dataclass
class DataConfig:
    path: str | None = None
    """Prompt file: JSONL, CSV, Parquet or a saved ``datasets`` directory (``problem`` required; ``difficulty``
    used by the curriculum). None = synthetic."""
    problem_field: str = "problem"
    answer_field: str = "answer"
    difficulty_field: str = "difficulty"
    synth_task: str = "arithmetic"
    synth_levels: str = "1-5"
    synth_per_level: int = 200

    def __post_init__(self) -> None:
        _check(self.synth_per_level >= 1, f"data.synth_per_level={self.synth_per_level} must be >= 1.")
        parse_levels(self.synth_levels)


@dataclass
class EvalConfig:
    """Held-out greedy evaluation with gold answers: diagnostics only, never a reward."""

    per_level: int = 50
    """Held-out problems per difficulty level (synthetic: freshly generated; a file: rows set aside). 0 = none."""
    every: int = 0
    """Also evaluate every N training steps (0 = only before and after training)."""
    batch_size: int = 64

    def __post_init__(self) -> None:
        _check(self.per_level >= 0, f"eval.per_level={self.per_level} must be >= 0 (0 = no evaluation).")
        _check(self.every >= 0, f"eval.every={self.every} must be >= 0 (0 = only before and after).")
        _check(self.batch_size >= 1, f"eval.batch_size={self.batch_size} must be >= 1.")


@dataclass
class TrainConfig:
    max_steps: int = 100
    learning_rate: float = 2e-5
    seed: int = 0
    output_dir: str = "runs/cuma"
    prompts_per_step: int = 8
    """Prompts per optimisation step; each is sampled ``rollout.num_generations`` times."""
    beta: float = 0.0
    loss_type: Literal["dapo", "bnpo"] = "dapo"
    """GRPO loss normalised by token count; the two for which a masked group is exactly a removed group."""
    scale_rewards: Literal["group", "batch", "none"] = "none"
    save_steps: int = 25
    samples_per_step: int = 2
    """Groups per step written to ``samples.jsonl`` (completions, extracted answers, vote, mask)."""
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    min_groups_per_update: int = 0
    """Bank gradients across steps and update only once this many informative groups (unmasked, not unanimous)
    are in (0 = update every step). With a strict mask most steps keep one or two groups; Adam would move the
    weights as far for those as for a full batch."""

    def __post_init__(self) -> None:
        _check(self.max_steps >= 1, f"train.max_steps={self.max_steps} must be >= 1.")
        _check(
            0 < self.learning_rate < 1,
            f"train.learning_rate={self.learning_rate} must be in (0, 1); label-free RL needs it low (1e-6-5e-5).",
        )
        _check(self.prompts_per_step >= 1, f"train.prompts_per_step={self.prompts_per_step} must be >= 1.")
        _check(self.beta >= 0, f"train.beta={self.beta} must be >= 0 (0 = no KL term, no reference model).")
        _check(self.save_steps >= 1, f"train.save_steps={self.save_steps} must be >= 1.")
        _check(
            self.min_groups_per_update >= 0,
            f"train.min_groups_per_update={self.min_groups_per_update} must be >= 0 (0 = update every step).",
        )
        _check(bool(self.output_dir), "train.output_dir is empty; give a directory for this run's outputs.")


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
            self.vote.mask_normaliser == "unmasked" or self.train.loss_type == "dapo",
            "vote.mask_normaliser=batch needs train.loss_type=dapo (its normaliser spans the generation batch).",
        )
        _check(
            not self.train.min_groups_per_update or self.vote.mask_normaliser == "unmasked",
            "train.min_groups_per_update needs vote.mask_normaliser=unmasked (the bank weights each step by its "
            "unmasked tokens).",
        )
        _check(
            not (self.model.backend == "unsloth" and self.lora.r == 0),
            "model.backend=unsloth trains LoRA adapters only; set lora.r (e.g. 16) or use model.backend=hf.",
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


# ---------------------------------------------------------------------------------------------------------------
# Presets


class _Yaml12Loader(yaml.SafeLoader):
    """YAML with only ``true``/``false`` as booleans: ``curriculum.mode: off`` must stay the string "off"."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)


PRESET_SUFFIX = ".yaml"


def _presets_dir() -> Path:
    return Path(str(resources.files("cuma_lite") / "presets"))


def list_presets() -> list[str]:
    return sorted(p.stem for p in _presets_dir().glob(f"*{PRESET_SUFFIX}"))


def preset_path(name: str) -> Path:
    """A preset by name (``tiny-cpu``) or a path to any YAML file of the same shape."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    path = _presets_dir() / f"{name}{PRESET_SUFFIX}"
    if not path.is_file():
        raise ConfigError(
            f"unknown preset {name!r}. Available presets: {', '.join(list_presets())} "
            "(or pass a path to a .yaml file)."
        )
    return path


def load_config(preset: str | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Build the config from a preset (or the defaults) and dotted ``section.key=value`` overrides."""
    raw: dict[str, Any] = {}
    where = "defaults"
    if preset is not None:
        path = preset_path(preset)
        where = str(path)
        try:
            raw = _load_yaml(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e}).") from None
        _check(
            isinstance(raw, dict), f"{path}: a preset must be a mapping of sections (model:, train:, ...)."
        )
    for item in overrides:
        key, sep, value = item.partition("=")
        _check(
            bool(sep) and bool(key.strip()),
            f"override {item!r} is not key=value; write e.g. train.max_steps=50.",
        )
        section, dot, name = key.strip().partition(".")
        _check(bool(dot), f"override {item!r}: the key must be section.name, e.g. train.max_steps.")
        sect = raw.setdefault(section, {})
        _check(isinstance(sect, dict), f"{where}: section {section!r} is not a mapping.")
        sect[name] = _load_yaml(value) if value.strip() else ""
    return build_config(raw, where=where)


def build_config(raw: dict[str, Any], *, where: str = "config") -> Config:
    sections = typing.get_type_hints(Config)
    unknown = sorted(set(raw) - set(sections))
    _check(not unknown, f"{where}: unknown section(s) {unknown}; valid sections: {', '.join(sections)}.")
    built = {
        name: _build_section(cls, raw.get(name) or {}, f"{where}: {name}") for name, cls in sections.items()
    }
    try:
        return Config(**built)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    _check(isinstance(values, dict), f"{where} must be a mapping of key: value.")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    section = where.rsplit(": ", 1)[-1]
    unknown = sorted(set(values) - set(valid))
    _check(
        not unknown,
        f"{where}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
        f"valid keys: {', '.join(f'{section}.{k}' for k in valid)}.",
    )
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce a YAML value to the annotated type, or raise a ConfigError naming the expected type."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}.")
    if origin is Literal:
        _check(value in args, f"{key}={value!r} is not allowed; choose one of: {', '.join(map(str, args))}.")
        return value
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        _check(isinstance(value, list), f"{key}={value!r}: expected a list, e.g. [a, b] or a,b.")
        return [_coerce(v, args[0], key) for v in value] if args else value
    if tp is bool:
        _check(isinstance(value, bool), f"{key}={value!r}: expected a boolean (true or false).")
        return value
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and value.is_integer():
            return int(value)
        _check(ok, f"{key}={value!r}: expected an integer.")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads "1e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            f"{key}={value!r}: expected a number.",
        )
        return float(value)
    if tp is str:
        _check(
            isinstance(value, (str, int, float)) and not isinstance(value, bool),
            f"{key}={value!r}: expected text.",
        )
        return str(value)
    return value


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML (what a run writes to ``config.yaml``)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
