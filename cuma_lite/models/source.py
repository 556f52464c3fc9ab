"""Where a model's weights come from: a hub id, a local directory, ``embedded:NAME``, or a cuma-lite run.

A run directory holds ``adapter/`` (LoRA over the base named in its ``adapter_config.json``) or ``model/`` (a full
fine-tune), and its ``config.yaml`` says how the run prompted and how long its completions were. Training, ``eval``,
``export`` and ``data difficulty`` all resolve ``--model`` here, so they agree on what a model is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cuma_lite.errors import UserError

EMBEDDED_PREFIX = "embedded:"


@dataclass(frozen=True)
class ModelSource:
    base: str
    """Path or hub id of the (base) model."""
    adapter: Path | None = None
    """A LoRA adapter to apply on top of ``base``."""
    run_config: dict[str, Any] | None = None
    """The run's resolved config, when the source is a run directory."""
    embedded: bool = False
    """A model shipped in the package (``embedded:NAME``)."""

    def generation_defaults(self) -> tuple[Literal["plain", "chat"], int]:
        """(prompt style, completion tokens): the run's own, ``plain``/128 for embedded models, else ``chat``/1024."""
        run = self.run_config or {}
        style = run.get("model", {}).get("prompt_style") or ("plain" if self.embedded else "chat")
        max_new = run.get("rollout", {}).get("max_new_tokens") or (128 if self.embedded else 1024)
        return style, int(max_new)


def resolve_model_path(name: str) -> str:
    """``embedded:NAME`` -> the packaged directory; a local path must exist; anything else is a hub id."""
    if name.startswith(EMBEDDED_PREFIX):
        from cuma_lite.models.tiny import embedded_path

        try:
            return str(embedded_path(name.split(":", 1)[1]))
        except (ValueError, FileNotFoundError) as e:
            raise UserError(f"model.name={name}: {e}") from None
    looks_local = name.startswith((".", "/", "~")) or Path(name).expanduser().exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise UserError(
            f"model.name={name}: no such directory; give a model directory, a hub id or embedded:tiny-math."
        )
    return str(Path(name).expanduser()) if looks_local else name


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
    path = Path(spec).expanduser()
    if (path / "config.yaml").is_file() and ((path / "adapter").is_dir() or (path / "model").is_dir()):
        import yaml

        kind, weights = run_weights(path)
        run_config = yaml.safe_load((path / "config.yaml").read_text())
        if adapter is not None:
            raise UserError(f"{spec} is a run directory: it brings its own weights; drop --adapter.")
        base = adapter_base(weights) if kind == "adapter" else str(weights)
        return ModelSource(base, weights if kind == "adapter" else None, run_config, _is_embedded(base))
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise UserError(f"--adapter {adapter}: no adapter_config.json there; give a peft adapter directory.")
    if (path / "adapter_config.json").is_file():  # an adapter directory given as the model
        base = adapter_base(path)
        return ModelSource(base, path, embedded=_is_embedded(base))
    embedded = spec.startswith(EMBEDDED_PREFIX)
    return ModelSource(resolve_model_path(spec), adapter, embedded=embedded or _is_embedded(spec))


def _is_embedded(path: str) -> bool:
    return "cuma_lite/assets" in Path(path).as_posix()
