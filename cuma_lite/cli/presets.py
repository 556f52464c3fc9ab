"""``cuma-lite presets list|show``: the shipped presets, and every config key with its help."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.syntax import Syntax
from rich.table import Table

from cuma_lite.cli.common import console, friendly_errors
from cuma_lite.config import dump_config, list_presets, load_config, preset_path

presets_app = typer.Typer(help="List and show the shipped presets.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")


@presets_app.command("list")
@friendly_errors
def presets_list() -> None:
    """List the shipped presets with their target hardware."""
    table = Table("preset", "for", "model", "generations", "steps")
    for name in list_presets():
        cfg = load_config(name)
        header = preset_path(name).read_text().splitlines()[0].lstrip("# ").split(":")[0]
        table.add_row(
            name, header, cfg.model.name, str(cfg.rollout.num_generations), str(cfg.train.max_steps)
        )
    console.print(table)


@presets_app.command("show")
@friendly_errors
def presets_show(
    name: Annotated[str, typer.Argument(help="Preset name (see `cuma-lite presets list`).")],
    resolved: Annotated[
        bool, typer.Option(help="Show the fully resolved config instead of the file.")
    ] = False,
) -> None:
    """Print a preset file (its header says how to use it), or with --resolved every key with its help."""
    path = preset_path(name)
    text = dump_config(load_config(name), with_help=True) if resolved else path.read_text()
    console.print(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True))
