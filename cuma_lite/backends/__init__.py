"""Backends: how a policy is loaded, trained on and saved, chosen once from ``model.backend``.

- ``hf`` (:mod:`cuma_lite.backends.hf`): transformers + peft, optionally bitsandbytes 4-bit; CPU or GPU.
- ``unsloth`` (:mod:`cuma_lite.backends.unsloth`): Unsloth 4-bit QLoRA with rollouts through the vLLM engine that
  shares the policy's weights; GPU only. Imported only when chosen: importing unsloth rewrites TRL's trainers.

Everything the rest of cuma-lite needs from a backend is the :class:`Backend` protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cuma_lite.config import Config
    from cuma_lite.rollout.contract import Generator


class Backend(Protocol):
    name: str

    def activate(self) -> None:
        """Import and configure the backend's libraries; the first thing a run does (import order matters)."""

    def load_policy(self) -> tuple[Any, Any]:
        """(model, tokenizer) ready for training: the base, with a LoRA adapter when ``lora.r > 0``."""

    def trainer_base(self) -> type:
        """The GRPO trainer class the CuMa trainer subclasses (the one in use after :meth:`activate`)."""

    def grpo_overrides(self) -> dict[str, Any]:
        """``GRPOConfig`` arguments this backend adds to the shared recipe."""

    def save_adapter(self, model: Any, directory: Path) -> None:
        """The trained LoRA adapter in peft format (``adapter_config.json`` + ``adapter_model.safetensors``)."""

    def generator(self, model: Any, tokenizer: Any) -> Generator:
        """The engine for every non-TRL generation of a run (held-out evaluation, difficulty estimation)."""

    def generation_spoils_training(self) -> bool:
        """True when a no-grad generation leaves the loaded policy unable to train (reload it afterwards)."""


def get_backend(cfg: Config) -> Backend:
    """The backend ``model.backend`` names, for this config."""
    if cfg.model.backend == "unsloth":
        from cuma_lite.backends.unsloth import UnslothBackend

        return UnslothBackend(cfg)
    from cuma_lite.backends.hf import HFBackend

    return HFBackend(cfg)
