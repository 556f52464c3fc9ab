"""The ``unsloth`` backend: 4-bit QLoRA with rollouts through a vLLM engine that shares the policy's weights.

Imported only when ``model.backend=unsloth``: importing unsloth rewrites TRL's trainers in place, so nothing else
in cuma-lite imports it, and :meth:`UnslothBackend.activate` imports it before transformers, TRL or peft (Unsloth
patches them at import). The CuMa trainer subclasses whatever ``trl.GRPOTrainer`` is after that import. What was
checked in the pinned wheels, file and line: docs/gpu-path.md. Opt-in Unsloth features that would bypass the mask or
split the vote groups are refused (:data:`UNSAFE_ENV`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cuma_lite.config import Config
from cuma_lite.errors import UserError
from cuma_lite.models.source import resolve_model_path

if TYPE_CHECKING:
    from cuma_lite.rollout.contract import Generator

logger = logging.getLogger(__name__)

STANDBY_ENV = "UNSLOTH_VLLM_STANDBY"
UTIL_OVERRIDE_ENV = "UNSLOTH_VLLM_STANDBY_UTIL_OVERRIDE"
"""Set so that ``model.gpu_memory_utilization`` takes effect: with Standby, Unsloth otherwise replaces it by a tier
of the card's size (docs/gpu-path.md, section 5)."""
INSTALL_HINT = (
    "model.backend=unsloth needs unsloth and vLLM on a CUDA machine: pip install 'cuma-lite[gpu]' "
    "(unsloth==2026.10.9, unsloth_zoo==2026.10.9, vllm==0.31.0, with torch==2.13.0); `cuma-lite doctor` "
    "checks the set. Or use model.backend=hf."
)
UNSAFE_ENV = {
    "UNSLOTH_GRPO_ZERO_VARIANCE_EXCLUDE": "its per-sample loss weights are computed before CuMa's mask",
    "UNSLOTH_GRPO_LOSS_AGGREGATION": "its per-sample loss weights are computed before CuMa's mask",
    "UNSLOTH_TOKEN_BALANCE": "it reorders the batches, splitting the vote groups",
    "UNSLOTH_TOKEN_BUDGET": "it splits the training step around CuMa's all-masked check",
}


class UnslothBackend:
    name = "unsloth"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def activate(self) -> None:
        require_cuda()
        import_unsloth(self.cfg)
        from cuma_lite.backends.hf import quiet_third_party

        quiet_third_party(four_bit=self.cfg.model.load_in_4bit)

    def load_policy(self) -> tuple[Any, Any]:
        return load_unsloth_policy(self.cfg)

    def trainer_base(self) -> type:
        return patched_trainer_base(self.cfg)

    def grpo_overrides(self) -> dict[str, Any]:
        return unsloth_grpo_overrides(self.cfg)

    def save_adapter(self, model: Any, directory: Path) -> None:
        save_unsloth_adapter(model, str(directory))

    def generator(self, model: Any, tokenizer: Any) -> Generator:
        if getattr(model, "vllm_engine", None) is not None:
            return SharedEngineGenerator(model)
        from cuma_lite.rollout.hf import HFGenerator

        return HFGenerator(model, tokenizer, batch_size=self.cfg.eval.batch_size)

    def generation_spoils_training(self) -> bool:
        return False


def require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            "model.backend=unsloth needs a CUDA GPU (vLLM rollouts share the GPU with training) and none is "
            "visible here. Use model.backend=hf on this machine (model.load_in_4bit=true for QLoRA)."
        )


def import_unsloth(cfg: Config) -> Any:
    """``import unsloth`` with Standby set first; refuses the env settings that would break CuMa's mask."""
    unsafe = [f"{k} ({why})" for k, why in UNSAFE_ENV.items() if os.environ.get(k, "0") not in ("", "0")]
    if unsafe:
        raise UserError(
            f"unset {'; '.join(unsafe)}: cuma-lite's no-majority mask cannot be honoured with it."
        )
    standby = cfg.model.fast_inference and cfg.model.vllm_standby
    if standby and os.environ.get(STANDBY_ENV, "0") == "0":
        if "unsloth" in sys.modules:
            raise UserError(
                f"model.vllm_standby=true, but unsloth was imported before {STANDBY_ENV}=1 could be set; set it "
                "before anything imports unsloth, or use model.vllm_standby=false."
            )
        os.environ[STANDBY_ENV] = "1"
    os.environ.setdefault(UTIL_OVERRIDE_ENV, "1")
    try:
        import unsloth
    except ImportError as e:
        raise UserError(f"{INSTALL_HINT} ({e})") from None
    return unsloth


def load_unsloth_policy(cfg: Config) -> tuple[Any, Any]:
    """(model, tokenizer): the base model (4-bit if ``model.load_in_4bit``) with a LoRA adapter, and its engine."""
    require_cuda()
    fast = import_unsloth(cfg).FastLanguageModel
    dtype = None
    if cfg.model.dtype != "auto":
        import torch

        dtype = getattr(torch, cfg.model.dtype)
    model, tokenizer = fast.from_pretrained(
        model_name=resolve_model_path(cfg.model.name),
        max_seq_length=cfg.model.max_seq_length,
        dtype=dtype,
        load_in_4bit=cfg.model.load_in_4bit,
        fast_inference=cfg.model.fast_inference,
        gpu_memory_utilization=cfg.model.gpu_memory_utilization,
        max_lora_rank=cfg.lora.r,
    )
    model = fast.get_peft_model(
        model,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        use_gradient_checkpointing="unsloth" if cfg.train.gradient_checkpointing else False,
        random_state=cfg.train.seed,
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        logger.warning(
            "%s pads with its EOS token: Unsloth's loss rebuilds the completion mask from the token ids and drops "
            "every pad id, so EOS tokens get no gradient on this backend (they do on model.backend=hf). A model "
            "whose tokenizer has its own pad token (Qwen2.5 Instruct: <|endoftext|>) avoids it.",
            cfg.model.name,
        )
    return model, tokenizer


class SharedEngineGenerator:
    """Generation outside the trainer (held-out evaluation) through the vLLM engine Unsloth built, with the policy's
    live LoRA adapter, instead of HF ``generate`` beside an awake engine. After each call the engine goes back to
    sleep as TRL puts it after a rollout, so the trainer gets the KV cache's memory back."""

    def __init__(self, model: Any) -> None:
        from cuma_lite.rollout.vllm import VLLMGenerator

        self.model = model
        # load_tensors=True: the adapter's current tensors, under a fresh request id each call
        self.vllm = VLLMGenerator(
            model.vllm_engine, lora_loader=lambda handle: model.load_lora(handle.path, load_tensors=True)
        )

    def generate(self, prompts: Any, spec: Any, lora: Any = None, *, on_batch: Any = None) -> Any:
        from cuma_lite.rollout.contract import LoraHandle

        handle = lora or LoraHandle("cuma-live-adapter", 1, "cuma-live-adapter")
        try:
            return self.vllm.generate(prompts, spec, handle, on_batch=on_batch)
        finally:
            engine = self.model.vllm_engine
            if _sleep_mode(engine):
                engine.sleep(level=2)  # what TRL does after each rollout (trl/generation/vllm_generation.py)


def _sleep_mode(engine: Any) -> bool:
    try:
        return bool(engine.llm_engine.vllm_config.model_config.enable_sleep_mode)
    except AttributeError:
        return False


def patched_trainer_base(cfg: Config) -> type:
    """``trl.GRPOTrainer`` after ``import unsloth``: Unsloth's class when its patch applied, TRL's otherwise."""
    import_unsloth(cfg)
    import trl

    cls = trl.GRPOTrainer
    if not cls.__name__.startswith("Unsloth"):
        logger.warning(
            "unsloth did not replace trl.GRPOTrainer (its patch failed: see its warning above); training uses "
            "TRL's own trainer, without Unsloth's memory-saving loss. CuMa's mask and curriculum still apply."
        )
    return cls


def unsloth_grpo_overrides(cfg: Config) -> dict[str, Any]:
    """GRPOConfig arguments for rollouts through the shared engine (Unsloth's ``__init__`` forces them too)."""
    if not cfg.model.fast_inference:
        return {}  # generation through the (Unsloth-patched) model.generate
    return {"use_vllm": True, "vllm_mode": "colocate"}


def save_unsloth_adapter(model: Any, directory: str) -> None:
    """The adapter in peft format: ``model.save_lora`` (Unsloth binds it on every model it loads), else peft's
    ``save_pretrained``."""
    if hasattr(model, "save_lora"):
        model.save_lora(directory)
    else:
        model.save_pretrained(directory, safe_serialization=True)
