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
    seeds: Annotated[
        str,
        typer.Option(help="A count (3: seeds 0, 1, 2), a list (0,4,7; one seed: 5,) or ranges (0-11,20)."),
    ] = "3",
    quick: Annotated[
        bool, typer.Option(help="Seed 0 of TTRL, CuMa and gold on the weakest and strongest bases (r1, r5).")
    ] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Runs side by side (one CPU thread each).")] = 2,
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated methods (default: ttrl, cuma, gold and three ablations; see the README)."
        ),
    ] = "all",
    bases: Annotated[str, typer.Option(help="Comma-separated subset of r1..r5 (default: all).")] = "all",
    ablations_everywhere: Annotated[
        bool, typer.Option(help="Run the ablations on every base, not only r1 and r5.")
    ] = False,
    split: Annotated[
        str, typer.Option(help="Judge on the test split, or on val (to choose settings).")
    ] = "test",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a key of every run, e.g. --set train.max_steps=100."),
    ] = None,
) -> None:
    """The paper in miniature: TTRL, CuMa and gold on a ladder of five bases; ablations and label-free baselines."""
    from cuma_lite.repro import ABLATION_BASES, BASES, DEFAULT_METHODS, PRESET, QUICK, run_repro

    overrides = list(set_ or [])
    load_config(PRESET, overrides)  # a bad override fails now, not after the first runs
    if split not in ("test", "val"):
        raise ConfigError(f"--split {split!r}: choose test (to judge) or val (to choose settings).")
    seed_list = parse_seeds(seeds)

    def pick(value: str, default: tuple[str, ...]) -> list[str]:
        return list(default) if value == "all" else [x.strip() for x in value.split(",") if x.strip()]

    chosen_methods = pick(methods, tuple(QUICK["methods"] if quick else DEFAULT_METHODS))
    chosen_bases = pick(bases, tuple(QUICK["bases"] if quick else BASES))
    results = run_repro(
        out,
        seeds=[0] if quick else seed_list,
        jobs=jobs,
        methods=chosen_methods,
        bases=chosen_bases,
        ablation_bases=None if ablations_everywhere or quick else ABLATION_BASES,
        split=split,
        overrides=overrides,
    )
    console.print((out / "results.md").read_text())
    console.print(
        f"{len(results['runs'])} runs; results in [bold]{out}[/] (results.json, results.md, results.png)"
    )


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: a count, or a comma-separated list of seeds and inclusive ranges.

    >>> parse_seeds("3"), parse_seeds("5,"), parse_seeds("0-3,7")
    ([0, 1, 2], [5], [0, 1, 2, 3, 7])
    """
    usage = f"--seeds {text!r}: a count (3), a comma-separated list (0,4,7) or ranges (0-11,20)."
    try:
        if "," not in text and "-" not in text:
            seeds = list(range(int(text)))
        else:
            seeds = []
            for item in filter(None, (s.strip() for s in text.split(","))):
                first, _, last = item.partition("-")
                seeds += list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise ConfigError(usage) from None
    if not seeds:
        raise ConfigError(f"{usage} Give at least one seed (seed 0 alone: --seeds 0, with the comma).")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{usage} A seed is given twice.")
    return seeds
