"""The ``hf`` backend: transformers + peft, optionally bitsandbytes NF4 (QLoRA), on a CPU or a GPU.

``lora.r > 0`` wraps the base in a peft LoRA adapter; ``lora.r = 0`` trains every weight (a ~1M-parameter model
needs it). Generation outside TRL (held-out evaluation, difficulty estimation) goes through
:class:`~cuma_lite.rollout.hf.HFGenerator` on the policy itself.

4-bit on a CPU: an eval-mode, no-grad forward right after loading repacks the weights for CPU inference, after
which a training forward fails, so :meth:`HFBackend.generation_spoils_training` asks the run to reload the policy
after its "before" evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cuma_lite.config import EMBEDDED_MODEL, Config
from cuma_lite.errors import UserError
from cuma_lite.models.source import ModelSource, resolve_model_path

if TYPE_CHECKING:
    from cuma_lite.rollout.hf import HFGenerator


class HFBackend:
    name = "hf"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def activate(self) -> None:
        quiet_third_party(four_bit=self.cfg.model.load_in_4bit)

    def load_policy(self) -> tuple[Any, Any]:
        return load_hf_policy(self.cfg)

    def trainer_base(self) -> type:
        import trl

        return trl.GRPOTrainer

    def grpo_overrides(self) -> dict[str, Any]:
        return {}

    def save_adapter(self, model: Any, directory: Path) -> None:
        model.save_pretrained(directory, safe_serialization=True)

    def generator(self, model: Any, tokenizer: Any) -> HFGenerator:
        from cuma_lite.rollout.hf import HFGenerator

        return HFGenerator(model, tokenizer, batch_size=self.cfg.eval.batch_size)

    def generation_spoils_training(self) -> bool:
        import torch

        return self.cfg.model.load_in_4bit and not torch.cuda.is_available()


def quiet_third_party(*, four_bit: bool) -> None:
    """Silence what is not ours to fix: per-save tqdm bars, TRL's warning on every masked (None) reward, and
    (on runs that do not use 4-bit) bitsandbytes' notice about its optional CPU kernels, printed at import."""
    import logging

    if not four_bit:
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("trl.trainer.grpo_trainer").addFilter(_DropMaskedRewardWarning())


class _DropMaskedRewardWarning:
    """TRL warns on every completion whose reward is None; for CuMa that is the no-majority mask at work."""

    def filter(self, record: Any) -> bool:
        return "All reward functions returned None" not in record.getMessage()


def torch_dtype(cfg: Config) -> Any:
    import torch

    if cfg.model.dtype != "auto":
        return getattr(torch, cfg.model.dtype)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


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
    _left_padded(tokenizer)
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


def load_inference_model(source: ModelSource, *, dtype: str = "auto", merge: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer) to generate or export with: the base, unquantised, with the adapter applied (merged)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {} if dtype == "auto" else {"dtype": getattr(torch, dtype)}
    tokenizer_dir = (
        source.adapter
        if source.adapter and (source.adapter / "tokenizer_config.json").exists()
        else source.base
    )
    try:
        model = AutoModelForCausalLM.from_pretrained(source.base, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    except OSError as e:
        raise UserError(
            f"cannot load the model {source.base!r} ({str(e).splitlines()[0][:120]}); give a local model "
            "directory, a run directory, embedded:tiny-math, or a hub id reachable from here."
        ) from None
    if source.adapter is not None:
        try:
            model = PeftModel.from_pretrained(model, source.adapter)
        except (RuntimeError, ValueError, KeyError) as e:  # size mismatch: trained on another base
            raise UserError(
                f"the adapter in {source.adapter} does not fit the base model {source.base} "
                f"({str(e).splitlines()[0][:160]}); give the base it was trained on."
            ) from None
        if merge:
            model = model.merge_and_unload()
    _left_padded(tokenizer)
    return model, tokenizer


def _left_padded(tokenizer: Any) -> None:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
