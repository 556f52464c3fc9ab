"""Model architectures for the memory planner: a small built-in table, a local ``config.json``, or the hub.

The planner needs only the shapes of a decoder: hidden size, layers, attention and KV heads, head dim,
MLP width, vocabulary and whether the LM head is tied to the embedding. :func:`model_arch` resolves a
``model.name`` in this order:

1. ``embedded:NAME`` -> the packaged tiny model's ``config.json``;
2. a local directory holding ``config.json``;
3. the built-in table of the Qwen2.5 models the GPU presets use (instruct, base and math variants of one size
   share a shape; the math models have a 4k context);
4. best effort, ``config.json`` from the Hugging Face hub (``huggingface_hub``; any failure falls through);
5. otherwise a :class:`~cuma_lite.errors.UserError` that lists the table and says to pass a directory.

Sources of the table (Hugging Face ``config.json`` of each model; the values for 0.5B/1.5B/3B/7B were
cross-checked against copies of those files quoted in public repositories, found with a code search on
2026-11-27): Qwen/Qwen2.5-0.5B-Instruct, Qwen/Qwen2.5-1.5B-Instruct, Qwen/Qwen2.5-3B-Instruct,
Qwen/Qwen2.5-7B-Instruct. The math variants' ``max_position_embeddings=4096`` is from the Qwen2.5-Math model
cards/configs as we know them and was not re-fetched this session (no hub access).
"""

from __future__ import annotations

import json
import logging
import re
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cuma_lite.errors import UserError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelArch:
    """The shapes of a Qwen2/Llama-style decoder (SwiGLU MLP, grouped-query attention)."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    qkv_bias: bool = True
    source: str = "built-in table"

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def module_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer of one decoder layer, by module name."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def linear_params_per_layer(self) -> int:
        return sum(a * b for a, b in self.module_shapes().values())

    def small_params_per_layer(self) -> int:
        """Biases (q/k/v in Qwen2) and the two RMSNorm weights: kept in 16 bits, never quantised."""
        bias = self.q_dim + 2 * self.kv_dim if self.qkv_bias else 0
        return bias + 2 * self.hidden_size

    def embedding_params(self) -> int:
        """Input embedding plus the LM head when it is a separate matrix."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    def total_params(self) -> int:
        return (
            self.num_layers * (self.linear_params_per_layer() + self.small_params_per_layer())
            + self.embedding_params()
            + self.hidden_size  # final norm
        )


def _qwen25(size: str, **shape: Any) -> ModelArch:
    return ModelArch(name=f"Qwen2.5-{size}", max_position_embeddings=32768, **shape)


_QWEN25 = {
    "0.5b": _qwen25(
        "0.5B",
        hidden_size=896,
        num_layers=24,
        num_heads=14,
        head_dim=64,
        num_kv_heads=2,
        intermediate_size=4864,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "1.5b": _qwen25(
        "1.5B",
        hidden_size=1536,
        num_layers=28,
        num_heads=12,
        head_dim=128,
        num_kv_heads=2,
        intermediate_size=8960,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "3b": _qwen25(
        "3B",
        hidden_size=2048,
        num_layers=36,
        num_heads=16,
        head_dim=128,
        num_kv_heads=2,
        intermediate_size=11008,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "7b": _qwen25(
        "7B",
        hidden_size=3584,
        num_layers=28,
        num_heads=28,
        head_dim=128,
        num_kv_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
}
MATH_CONTEXT = 4096
"""Qwen2.5-Math-{1.5B,7B}(-Instruct) ship ``max_position_embeddings=4096`` (their shapes are the base sizes')."""

_NAME_RX = re.compile(r"^qwen2\.5-(math-)?(0\.5b|1\.5b|3b|7b)(-instruct)?$")


def builtin_names() -> list[str]:
    """The hub ids the table answers for (the unsloth/ re-uploads and -bnb-4bit variants resolve too)."""
    names = []
    for size in _QWEN25:
        names += [f"Qwen/Qwen2.5-{size.upper()}", f"Qwen/Qwen2.5-{size.upper()}-Instruct"]
        if size in ("1.5b", "7b"):
            names += [f"Qwen/Qwen2.5-Math-{size.upper()}", f"Qwen/Qwen2.5-Math-{size.upper()}-Instruct"]
    return names


def builtin_arch(name: str) -> ModelArch | None:
    """The table entry for a Qwen2.5 hub id (``Qwen/``, ``unsloth/``, ``-bnb-4bit``, any case), else None."""
    key = name.strip().lower().rsplit("/", 1)[-1]
    key = re.sub(r"-(unsloth-)?bnb-4bit$", "", key)
    m = _NAME_RX.match(key)
    if not m:
        return None
    math, size = bool(m.group(1)), m.group(2)
    if math and size not in ("1.5b", "7b"):
        return None
    arch = _QWEN25[size]
    if math:
        arch = replace(arch, name=f"Qwen2.5-Math-{size.upper()}", max_position_embeddings=MATH_CONTEXT)
    return replace(arch, source=f"built-in table ({arch.name})")


def arch_from_config(cfg: dict[str, Any], *, name: str, source: str) -> ModelArch:
    """A :class:`ModelArch` from a transformers ``config.json`` dict (Qwen2, Llama, Mistral and the like)."""
    text = cfg.get("text_config") or cfg
    try:
        hidden = int(text["hidden_size"])
        heads = int(text["num_attention_heads"])
        return ModelArch(
            name=name,
            hidden_size=hidden,
            num_layers=int(text["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(text.get("num_key_value_heads") or heads),
            head_dim=int(text.get("head_dim") or hidden // heads),
            intermediate_size=int(text["intermediate_size"]),
            vocab_size=int(text["vocab_size"]),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
            max_position_embeddings=int(text.get("max_position_embeddings") or 0) or 1 << 20,
            qkv_bias=bool(text.get("attention_bias", text.get("model_type") == "qwen2")),
            source=source,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(
            f"{source}: not a decoder config the planner understands (missing or bad {e}); it needs hidden_size, "
            "num_hidden_layers, num_attention_heads, intermediate_size and vocab_size."
        ) from None


def _read_config(path: Path, name: str) -> ModelArch:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: cannot read it as JSON ({e}).") from None
    return arch_from_config(cfg, name=name, source=str(path))


def _reachable(endpoint: str, timeout: float = 3.0) -> bool:
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _from_hub(name: str) -> ModelArch | None:
    """Best effort: ``config.json`` from the hub. Offline, gated or missing -> None (the caller explains)."""
    try:
        from huggingface_hub import constants, hf_hub_download

        if constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT):
            return None  # no hub here: fail in seconds, not after huggingface_hub's retries
        path = hf_hub_download(name, "config.json")
        return _read_config(Path(path), name)
    except Exception as e:  # any failure (offline, 404, bad JSON) falls back; the caller raises a clear error
        logger.info("could not fetch config.json for %s from the hub: %s", name, e)
        return None


def model_arch(name: str, *, online: bool = True) -> ModelArch:
    """Resolve ``model.name`` to its shapes (see the module docstring for the order)."""
    if name.startswith("embedded:"):
        from cuma_lite.models.tiny import embedded_path

        try:
            return _read_config(embedded_path(name.split(":", 1)[1]) / "config.json", name)
        except (ValueError, FileNotFoundError) as e:
            raise UserError(f"model.name={name}: {e}") from None
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"{local}: no config.json there; give a model directory or a hub id.")
        return _read_config(local / "config.json", name)
    arch = builtin_arch(name)
    if arch is not None:
        return arch
    if online and "/" in name and not name.startswith((".", "/", "~")):
        arch = _from_hub(name)
        if arch is not None:
            return arch
    raise UserError(
        f"model {name!r}: no config.json found (not a local directory, not in the built-in table, and the hub "
        f"did not answer). Pass a directory holding the model's config.json, or one of: "
        f"{', '.join(builtin_names())}."
    )
