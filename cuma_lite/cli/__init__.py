"""The ``cuma-lite`` command line: parse, build a config, call one function. No logic lives here.

Each module registers its commands with ``register(app)``. User mistakes (an unknown preset, a bad override, a
malformed data file) end with one clear message and a non-zero exit code -- 2 for bad usage or config, 1 for bad
data or a failed run -- never a traceback.
"""

from __future__ import annotations

import sys

import typer

from cuma_lite.cli import data, gpu, presets, probe, runs, train

app = typer.Typer(
    help="Label-free RL (TTRL + CuMa's no-majority mask and curriculum) for small reasoning models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (train, runs, probe, presets, data, gpu):
    module.register(app)


def main() -> None:  # pragma: no cover - the console script calls `app` directly
    sys.exit(app())
