"""``cuma-lite train`` and ``cuma-lite repro``: one run from a preset, or the miniature reproduction's grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cuma_lite.cli.common import console, friendly_errors
from cuma_lite.config import load_config
from cuma_lite.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("repro")(repro)


@friendly_errors
def train(
    preset: Annotated[str, typer.Option(help="Preset name or YAML file.")] = "tiny-cpu",
    data: Annotated[Path | None, typer.Option(help="Prompt JSONL (overrides data.path).")] = None,
    output: Annotated[Path | None, typer.Option(help="Run directory (overrides train.output_dir).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key, e.g. --set train.max_steps=50.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in the output directory.")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a finished or different run in the output dir.")
    ] = False,
) -> None:
    """Label-free GRPO: majority-vote reward, no-majority mask, curriculum."""
    overrides = list(set_ or [])
    if data is not None:
        overrides.append(f"data.path={data}")
    if output is not None:
        overrides.append(f"train.output_dir={output}")
    cfg = load_config(preset, overrides)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other; pick one.")
    from cuma_lite.training.run import train as run_train  # heavy: torch, transformers, trl

    run_train(cfg, resume=resume, overwrite=overwrite)


@friendly_errors
def repro(
    out: Annotated[Path, typer.Option(help="Directory for the runs and results.*")] = Path("runs/repro"),
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per base x method.")] = 3,
    quick: Annotated[
        bool, typer.Option(help="Seed 0 and the paper's six methods only (a subset of the full grid).")
    ] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Runs side by side (one CPU thread each).")] = 2,
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated subset of: ttrl, cuma, cuma-no-bank, mask-only, curriculum-only, intuitor, rent, "
            "gold."
        ),
    ] = "all",  # with --quick: QUICK_METHODS
    bases: Annotated[str, typer.Option(help="Comma-separated subset of: weak, strong.")] = "all",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a key of every run, e.g. --set train.max_steps=100."),
    ] = None,
) -> None:
    """The paper in miniature: TTRL vs CuMa, its ablations and label-free baselines, on a weak and a strong base."""
    from cuma_lite.repro import BASES, METHODS, PRESET, QUICK_METHODS, run_repro

    overrides = list(set_ or [])
    load_config(PRESET, overrides)  # a bad override fails now, not after the first runs
    default_methods = QUICK_METHODS if quick else METHODS
    chosen_methods = (
        list(default_methods) if methods == "all" else [m.strip() for m in methods.split(",") if m.strip()]
    )
    chosen_bases = list(BASES) if bases == "all" else [b.strip() for b in bases.split(",") if b.strip()]
    results = run_repro(
        out,
        seeds=1 if quick else seeds,
        jobs=jobs,
        methods=chosen_methods,
        bases=chosen_bases,
        overrides=overrides,
    )
    console.print((out / "results.md").read_text())
    console.print(
        f"{len(results['runs'])} runs; results in [bold]{out}[/] (results.json, results.md, results.png)"
    )
