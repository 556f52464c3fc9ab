"""``cuma-lite export``: take a run's weights elsewhere.

- ``adapter``: the LoRA adapter as peft saves it (``adapter_model.safetensors`` + ``adapter_config.json``), for
  ``PeftModel.from_pretrained(base, dir)``, vLLM's LoRA requests, or Unsloth.
- ``merged``: base + adapter merged into plain weights (``AutoModelForCausalLM.from_pretrained(dir)``), in the
  base model's own dtype by default (16-bit for Qwen2.5; a 4-bit-trained base is loaded unquantised to merge).
- ``gguf``: through Unsloth's exporter, which needs a CUDA GPU and the ``gpu`` extra; elsewhere a clear error.

A run directory holds either ``adapter/`` (LoRA) or ``model/`` (a full fine-tune, already a plain model).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

from cuma_lite.errors import UserError

ExportFormat = Literal["adapter", "merged", "gguf"]


def run_weights(run_dir: Path) -> tuple[Literal["adapter", "model"], Path]:
    """Which final weights a run directory holds (or the directory itself, if it is an adapter/model dir)."""
    for kind, sub in (("adapter", "adapter"), ("model", "model")):
        if (run_dir / sub).is_dir():
            return kind, run_dir / sub  # type: ignore[return-value]
    if (run_dir / "adapter_config.json").is_file():
        return "adapter", run_dir
    if (run_dir / "config.json").is_file():
        return "model", run_dir
    raise UserError(
        f"{run_dir}: no final weights (adapter/ or model/); the run may not have finished. "
        "Resume it with `cuma-lite train --resume --output DIR`, or export a checkpoint-N directory."
    )


def adapter_base(adapter_dir: Path) -> str:
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    return str(config["base_model_name_or_path"])


def load_merged(adapter_dir: Path, *, base: str | None = None, dtype: str = "auto") -> tuple[Any, Any]:
    """Base model (unquantised) + adapter, merged; returns (model, tokenizer)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = base or adapter_base(adapter_dir)
    kwargs = {} if dtype == "auto" else {"dtype": getattr(torch, dtype)}
    try:
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except OSError as e:
        raise UserError(
            f"cannot load the adapter's base model {base!r} ({str(e).splitlines()[0][:120]}); it must be a local "
            "directory or a hub id reachable from here."
        ) from None
    try:
        merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    except RuntimeError as e:  # size mismatch: the adapter was trained on another base
        raise UserError(
            f"the adapter in {adapter_dir} does not fit the base model {base} ({str(e).splitlines()[0][:160]}); "
            "give the base it was trained on."
        ) from None
    tokenizer_dir = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else Path(base)
    return merged, AutoTokenizer.from_pretrained(tokenizer_dir)


def export_run(run_dir: Path, fmt: ExportFormat, out: Path, *, dtype: str = "auto") -> Path:
    kind, weights = run_weights(run_dir)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; choose another --out directory or remove it first.")
    if fmt == "gguf":
        return _export_gguf(kind, weights, out)
    if fmt == "adapter":
        if kind != "adapter":
            raise UserError(
                f"{run_dir} trained every weight (lora.r=0): there is no adapter. Use --format merged."
            )
        shutil.copytree(weights, out, dirs_exist_ok=True)
        return out
    if kind == "model":
        shutil.copytree(weights, out, dirs_exist_ok=True)
        return out
    model, tokenizer = load_merged(weights, dtype=dtype)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def _export_gguf(kind: str, weights: Path, out: Path) -> Path:
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            "--format gguf goes through Unsloth's exporter, which needs a CUDA GPU and `pip install "
            "'cuma-lite[gpu]'`. On this machine: export --format merged, then convert with llama.cpp's "
            "convert_hf_to_gguf.py."
        )
    try:
        from unsloth import FastLanguageModel
    except ImportError:
        raise UserError("--format gguf needs Unsloth: `pip install 'cuma-lite[gpu]'`.") from None
    model, tokenizer = FastLanguageModel.from_pretrained(str(weights), load_in_4bit=False)
    model.save_pretrained_gguf(str(out), tokenizer, quantization_method="q8_0")
    return out
