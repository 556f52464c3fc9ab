"""``python -m cuma_lite`` is the ``cuma-lite`` command."""

from cuma_lite.cli import app

app(prog_name="cuma-lite")
