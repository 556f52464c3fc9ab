"""The ``unsloth`` backend: 4-bit QLoRA with rollouts through a vLLM engine that shares the policy's weights.

Imported only when ``model.backend=unsloth`` is selected: importing unsloth rewrites TRL's trainers in place
(stack.md §3), so nothing else in cuma-lite may import it. What happens, with unsloth 2026.10.9 / trl 1.15.0:

1. ``UNSLOTH_VLLM_STANDBY=1`` is set *before* the first ``import unsloth`` when ``model.vllm_standby`` (unsloth_zoo
   reads it at import and at engine build: ``vllm_utils.py`` l. 1125 and ``load_vllm`` l. 4426; set early, Unsloth
   also drops ``expandable_segments`` from the allocator config, which Standby cannot run with).
2. ``FastLanguageModel.from_pretrained(..., load_in_4bit, fast_inference, gpu_memory_utilization,
   max_lora_rank=lora.r)`` builds the model and, with ``fast_inference``, ``model.vllm_engine``; then
   ``FastLanguageModel.get_peft_model(..., use_gradient_checkpointing="unsloth")`` (``unsloth/models/loader.py``
   l. 1241, ``unsloth/models/llama.py`` l. 4569).
3. Training uses ``trl.GRPOTrainer`` *as it is after the import*: Unsloth's ``UnslothGRPOTrainer``, generated from
   TRL's source and bound to ``trl.GRPOTrainer`` (``unsloth/models/rl.py``, ``_patch_trl_rl_trainers_impl``
   l. 3934-3959). Its ``__init__`` sets ``use_vllm=True, vllm_mode="colocate"`` when the model has a
   ``vllm_engine`` (``patch_functions`` l. 4146-4190), and TRL's ``VLLMGeneration`` is patched to take
   ``model.vllm_engine`` instead of building a second engine, and to pass the live adapter as a ``LoRARequest``
   on every ``generate`` (``rl_replacements.py``, ``vllm_generation_init_patch`` l. 5431-5698).

Why CuMa's overrides survive that class (read in the wheels; cuma_lite.training.grpo subclasses whatever
:func:`patched_trainer_base` returns, so its methods come first in the MRO):

- ``_generate_and_score_completions``: TRL's ``_prepare_inputs`` calls it through ``self`` (trl
  ``grpo_trainer.py`` l. 1499 and 1508); Unsloth's rewrite of ``_prepare_inputs`` only changes its autocast and
  ``unwrap_model`` lines (``rl_replacements.py``, ``grpo_trainer__prepare_inputs`` l. 2127-2167). Unsloth wraps
  the method on *its* class (``rl.py``, ``_wrap_grpo_generate_and_score`` l. 1032-1075, applied l. 4033): our
  ``super()`` call lands in that wrapper, which calls Unsloth's rewritten body and returns its dict unchanged.
- The mask is read back: Unsloth's ``compute_loss`` takes ``inputs["completion_mask"]`` and
  ``inputs.get("num_items_in_batch")`` from that dict (``rl_replacements.py``, ``grpo_trainer_compute_loss``,
  l. 4777 and 4789), and unsloth_zoo's loss multiplies by the mask and divides ``dapo`` by ``num_items_in_batch``
  and ``bnpo`` by the micro-batch's mask sum (``unsloth_zoo/rl_replacements.py``, ``grpo_compute_loss``,
  l. 1226-1240) -- the two fields our override rewrites.
- ``_get_train_sampler``: TRL's ``get_train_dataloader`` passes ``sampler_fn=self._get_train_sampler`` (trl
  l. 1234), kept as is. Unsloth replaces it only under context parallelism (``unsloth/context_parallel.py``,
  ``install_methods`` l. 1572, on its own class, only when ``context_parallel_size > 1``).
- ``training_step``: Unsloth wraps its own class's method for DDP gradient averaging (``rl.py``,
  ``_wrap_grpo_ddp_gradient_sync`` l. 2286-2310); ours calls ``super()`` and drops the gradients afterwards.
- ``_save_checkpoint``: not touched by Unsloth (no match in unsloth or unsloth_zoo for the GRPO trainer).

Opt-in Unsloth features that would bypass the mask or reorder the groups are refused (:data:`UNSAFE_ENV`).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from cuma_lite.config import Config
from cuma_lite.errors import UserError

logger = logging.getLogger(__name__)

STANDBY_ENV = "UNSLOTH_VLLM_STANDBY"
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
"""rl_replacements.py ``_unsloth_grpo_sample_weight`` (l. 4580) and utils/token_budget.py ``install_token_budget``."""


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
    try:
        import unsloth
    except ImportError as e:
        raise UserError(f"{INSTALL_HINT} ({e})") from None
    return unsloth


def load_unsloth_policy(cfg: Config) -> tuple[Any, Any]:
    """(model, tokenizer): the base model (4-bit if ``model.load_in_4bit``) with a LoRA adapter, and its engine."""
    from cuma_lite.training.backends import resolve_model_path

    require_cuda()
    unsloth = import_unsloth(cfg)
    fast = unsloth.FastLanguageModel
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
    return model, tokenizer


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
    # vllm_enable_sleep_mode is left to Unsloth: it sets it from the engine it built (rl.py l. 4180-4188), and
    # vllm_gpu_memory_utilization only sizes an engine TRL builds itself, which the shared engine replaces.
    return {"use_vllm": True, "vllm_mode": "colocate"}


def save_unsloth_adapter(model: Any, directory: str) -> None:
    """The adapter in peft format (``adapter_config.json`` + ``adapter_model.safetensors``): ``model.save_lora``
    (``unsloth/models/_utils.py``, ``patch_peft_fast_inference`` l. 8076-8103), which Unsloth binds only with
    ``fast_inference``; otherwise the peft model's own ``save_pretrained`` writes the same files."""
    if hasattr(model, "save_lora"):
        model.save_lora(directory)
    else:
        model.save_pretrained(directory, safe_serialization=True)
