"""``cuma-lite export``: take a run's weights elsewhere.

- ``adapter``: the LoRA adapter as peft saves it (``adapter_model.safetensors`` + ``adapter_config.json``), for
  ``PeftModel.from_pretrained(base, dir)``, vLLM's LoRA requests, or Unsloth.
- ``merged``: base + adapter merged into plain weights (``AutoModelForCausalLM.from_pretrained(dir)``), in the
  base model's own dtype by default (16-bit for Qwen2.5; a 4-bit-trained base is loaded unquantised to merge).
- ``gguf``: through Unsloth's exporter, which needs a CUDA GPU and the ``gpu`` extra; elsewhere a clear error.

A run directory holds either ``adapter/`` (LoRA) or ``model/`` (a full fine-tune, already a plain model).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from cuma_lite.errors import UserError
from cuma_lite.models.source import ModelSource, adapter_base, run_weights

ExportFormat = Literal["adapter", "merged", "gguf"]


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
    from cuma_lite.backends.hf import load_inference_model

    model, tokenizer = load_inference_model(ModelSource(adapter_base(weights), weights), dtype=dtype)
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
