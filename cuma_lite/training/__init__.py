"""Training wiring: TRL's GRPOTrainer with CuMa's mask and curriculum (``grpo``), model loading (``backends``),
the run itself (``runner``), logging callbacks (``callbacks``) and the trl 1.15 CPU fallback (``trl_compat``).

Importing this package is light; torch, transformers and trl are imported when ``run_training`` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cuma_lite.config import Config


def run_training(cfg: Config, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Train as ``cfg`` says (see :func:`cuma_lite.training.runner.run_training`)."""
    from cuma_lite.training.runner import run_training as _run

    return _run(cfg, resume=resume, overwrite=overwrite)
