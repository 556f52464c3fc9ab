"""One typed config tree (``schema``), filled by YAML presets and dotted overrides (``loading``)."""

from cuma_lite.config.loading import (
    build_config,
    dump_config,
    list_presets,
    load_config,
    preset_path,
)
from cuma_lite.config.schema import (
    EMBEDDED_MODEL,
    LORA_RANKS_VLLM,
    Config,
    CurriculumConfig,
    DataConfig,
    EvalConfig,
    LoraConfig,
    ModelConfig,
    RewardConfig,
    RolloutConfig,
    TrainConfig,
    VoteConfig,
    field_help,
    parse_levels,
)
from cuma_lite.errors import ConfigError

__all__ = [
    "EMBEDDED_MODEL",
    "LORA_RANKS_VLLM",
    "Config",
    "ConfigError",
    "CurriculumConfig",
    "DataConfig",
    "EvalConfig",
    "LoraConfig",
    "ModelConfig",
    "RewardConfig",
    "RolloutConfig",
    "TrainConfig",
    "VoteConfig",
    "build_config",
    "dump_config",
    "field_help",
    "list_presets",
    "load_config",
    "parse_levels",
    "preset_path",
]
