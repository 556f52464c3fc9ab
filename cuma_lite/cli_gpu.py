"""``cuma-lite plan`` and ``cuma-lite doctor``: will it fit, and can this machine run it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app (kept apart so the GPU tooling lives in one place)."""
