"""The pure core and the CLI's start-up import no torch, trl, vllm or unsloth (STYLE.md: lazy heavy imports)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "trl", "vllm", "unsloth", "transformers", "peft", "bitsandbytes")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


def test_core_imports_are_light():
    code = (
        "import cuma_lite, cuma_lite.answers, cuma_lite.voting, cuma_lite.curriculum, cuma_lite.rewards, "
        "cuma_lite.data.synthetic, cuma_lite.data.io, cuma_lite.config, cuma_lite.training"
    )
    assert not (_modules_after(code) & set(HEAVY))


def test_cli_help_is_light():
    code = (
        "import sys\nfrom cuma_lite.cli import app\nsys.argv=['cuma-lite','--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert "typer" in loaded  # the check itself works: the CLI really was imported
    assert not (loaded & set(HEAVY))
