"""Loading the policy: the ``hf`` backend (transformers + peft, optional bitsandbytes 4-bit).

``model.name`` is a local directory, a hub id, or ``embedded:NAME`` for a model shipped in the package
(``embedded:tiny-math``). LoRA when ``lora.r > 0``; ``lora.r = 0`` trains every weight (a ~1M-parameter model
may need it). The ``unsloth`` backend (4-bit QLoRA with shared-weight vLLM rollouts) is selected with
``model.backend=unsloth`` and lives in :mod:`cuma_lite.training.unsloth_backend`, imported only then
(importing unsloth rewrites TRL's trainers globally).

4-bit on a CPU (stack.md §4): an eval-mode, no-grad forward right after loading repacks the weights for CPU
inference, after which training fails. :func:`needs_train_mode_generation` tells the caller to keep such a
model in train mode when it generates (every dropout here is 0, so the outputs are the same).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cuma_lite.config import EMBEDDED_MODEL, Config
from cuma_lite.errors import UserError

logger = logging.getLogger(__name__)


def resolve_model_path(name: str) -> str:
    """``embedded:NAME`` -> the packaged directory; a local path must exist; anything else is a hub id."""
    if name.startswith("embedded:"):
        from cuma_lite.models.tiny import embedded_path

        try:
            return str(embedded_path(name.split(":", 1)[1]))
        except (ValueError, FileNotFoundError) as e:
            raise UserError(f"model.name={name}: {e}") from None
    looks_local = name.startswith((".", "/", "~")) or Path(name).expanduser().exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise UserError(
            f"model.name={name}: no such directory; give a model directory, a hub id or {EMBEDDED_MODEL}."
        )
    return str(Path(name).expanduser()) if looks_local else name


def torch_dtype(cfg: Config) -> Any:
    import torch

    if cfg.model.dtype != "auto":
        return getattr(torch, cfg.model.dtype)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_policy(cfg: Config) -> tuple[Any, Any]:
    """(model, tokenizer) for training, from the backend ``model.backend`` names."""
    if cfg.model.backend == "unsloth":
        from cuma_lite.training.unsloth_backend import load_unsloth_policy

        return load_unsloth_policy(cfg)
    return load_hf_policy(cfg)


def trainer_base(cfg: Config) -> type:
    """The GRPO trainer class the CuMa subclass extends: ``trl.GRPOTrainer`` as it is in use. For ``unsloth``
    that is the class Unsloth's import put in its place (stack.md §7), so call this after :func:`load_policy`."""
    if cfg.model.backend == "unsloth":
        from cuma_lite.training.unsloth_backend import patched_trainer_base

        return patched_trainer_base(cfg)
    import trl

    return trl.GRPOTrainer


def grpo_overrides(cfg: Config) -> dict[str, Any]:
    """Backend-specific ``GRPOConfig`` arguments: rollouts on the shared vLLM engine for ``unsloth``; none for ``hf``."""
    if cfg.model.backend == "unsloth":
        from cuma_lite.training.unsloth_backend import unsloth_grpo_overrides

        return unsloth_grpo_overrides(cfg)
    return {}


def save_adapter(cfg: Config, model: Any, directory: str | Path) -> None:
    """The trained LoRA adapter in peft format (``adapter_config.json`` + ``adapter_model.safetensors``)."""
    if cfg.model.backend == "unsloth":
        from cuma_lite.training.unsloth_backend import save_unsloth_adapter

        save_unsloth_adapter(model, str(directory))
        return
    model.save_pretrained(directory, safe_serialization=True)


def load_hf_policy(cfg: Config) -> tuple[Any, Any]:
    """(model, tokenizer) for training: the base model, wrapped in a LoRA adapter when ``lora.r > 0``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(cfg.model.name)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(cfg)}
    if cfg.model.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=kwargs["dtype"]
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as e:
        raise UserError(
            f"model.name={cfg.model.name}: could not load it ({str(e).splitlines()[0]}). Give a local model "
            f"directory, a hub id reachable from this machine, or {EMBEDDED_MODEL}."
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if cfg.lora.r > 0:
        model = wrap_lora(model, cfg)
    return model, tokenizer


def wrap_lora(model: Any, cfg: Config) -> Any:
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [m for m in cfg.lora.target_modules if m in present]
    if not targets:
        raise UserError(
            f"lora.target_modules={cfg.lora.target_modules} match no module of {cfg.model.name}; "
            f"its linear layers include: {', '.join(sorted(n for n in present if n.endswith('proj'))[:12])}."
        )
    peft_config = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config)


def needs_train_mode_generation(cfg: Config) -> bool:
    import torch

    return cfg.model.load_in_4bit and not torch.cuda.is_available()
