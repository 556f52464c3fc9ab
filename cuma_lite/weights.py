"""Where a model's weights come from: a hub id, a local directory, ``embedded:NAME``, or a cuma-lite run.

A run directory holds either ``adapter/`` (LoRA over the base named in its ``adapter_config.json``) or
``model/`` (a full fine-tune); its ``config.yaml`` says how it prompted (``model.prompt_style``) and how long
its completions were. ``eval`` and ``export`` load runs through here, so both agree on what a run's weights are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cuma_lite.errors import UserError


@dataclass(frozen=True)
class ModelSource:
    base: str
    """Path or hub id of the (base) model."""
    adapter: Path | None = None
    """A LoRA adapter to apply on top of ``base``."""
    run_config: dict[str, Any] | None = None
    """The run's resolved config, when the source is a run directory."""


def run_weights(run_dir: Path) -> tuple[Literal["adapter", "model"], Path]:
    """Which final weights a run directory holds (or the directory itself, if it is an adapter/model dir)."""
    if (run_dir / "adapter").is_dir():
        return "adapter", run_dir / "adapter"
    if (run_dir / "model").is_dir():
        return "model", run_dir / "model"
    if (run_dir / "adapter_config.json").is_file():
        return "adapter", run_dir
    if (run_dir / "config.json").is_file():
        return "model", run_dir
    raise UserError(
        f"{run_dir}: no final weights (adapter/ or model/); the run may not have finished. "
        "Resume it with `cuma-lite train --resume --output DIR`, or point at a checkpoint-N directory."
    )


def adapter_base(adapter_dir: Path) -> str:
    return str(json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"])


def resolve_source(spec: str, adapter: Path | None = None) -> ModelSource:
    """``--model`` (+ ``--adapter``) as a :class:`ModelSource`."""
    from cuma_lite.training.backends import resolve_model_path

    path = Path(spec).expanduser()
    if (path / "config.yaml").is_file() and ((path / "adapter").is_dir() or (path / "model").is_dir()):
        import yaml

        kind, weights = run_weights(path)
        run_config = yaml.safe_load((path / "config.yaml").read_text())
        if adapter is not None:
            raise UserError(f"{spec} is a run directory: it brings its own weights; drop --adapter.")
        if kind == "adapter":
            return ModelSource(adapter_base(weights), weights, run_config)
        return ModelSource(str(weights), None, run_config)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise UserError(f"--adapter {adapter}: no adapter_config.json there; give a peft adapter directory.")
    if (path / "adapter_config.json").is_file():  # an adapter directory given as the model
        return ModelSource(adapter_base(path), path)
    return ModelSource(resolve_model_path(spec), adapter)


def load_model(source: ModelSource, *, dtype: str = "auto", merge: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer): the base, unquantised, with the adapter applied (and merged, by default)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {} if dtype == "auto" else {"dtype": getattr(torch, dtype)}
    try:
        model = AutoModelForCausalLM.from_pretrained(source.base, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(
            source.adapter
            if source.adapter and (source.adapter / "tokenizer_config.json").exists()
            else source.base
        )
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
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer
