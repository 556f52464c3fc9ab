"""``cuma-lite probe``: before any training, will label-free RL help this model on these prompts?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cuma_lite.cli.common import console, friendly_errors
from cuma_lite.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)


@friendly_errors
def probe(
    model: Annotated[str, typer.Option(help="Hub id, model directory, run directory, or embedded:NAME.")],
    data: Annotated[
        str, typer.Option(help="Prompts: a file (gold answers optional) or math500/aime24/amc23.")
    ],
    preset: Annotated[
        str, typer.Option(help="The training preset whose settings are forecast.")
    ] = "repro-cpu",
    methods: Annotated[
        str, typer.Option(help="Comma-separated `cuma-lite repro` methods to forecast on top of the preset.")
    ] = "ttrl,cuma,gold",
    setting: Annotated[
        list[str] | None,
        typer.Option(help="An extra setting, NAME:key=value,key=value over the preset (repeatable)."),
    ] = None,
    samples: Annotated[
        int, typer.Option(min=2, help="Samples a prompt (the pool sizes probed go up to it).")
    ] = 32,
    temperatures: Annotated[str, typer.Option(help="Sampling temperatures, comma-separated.")] = "1.0",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N prompts.")] = 500,
    max_new_tokens: Annotated[
        int | None, typer.Option(min=1, help="Completion length (default: as `eval`).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per generate call.")] = 256,
    seed: int = 0,
    reuse: Annotated[
        bool, typer.Option(help="Forecast from the answers a previous probe saved in --out (no sampling).")
    ] = False,
    transfer: Annotated[
        bool,
        typer.Option(
            help="The transfer forecast (gradients of the model: what training does to other prompts)."
        ),
    ] = False,
    out: Annotated[Path, typer.Option(help="Directory for probe.json, probe.md, probe.png.")] = Path(
        "runs/probe"
    ),
) -> None:
    """Sample the model and forecast each setting's gain (as a share of the gold reward's), before training."""
    from cuma_lite.config import load_config
    from cuma_lite.probe import run_probe
    from cuma_lite.repro import METHODS

    settings = []
    for name in [m.strip() for m in methods.split(",") if m.strip()]:
        if name not in METHODS:
            raise ConfigError(f"unknown method {name!r}; methods: {', '.join(METHODS)}.")
        cfg = load_config(preset, list(METHODS[name]))
        if cfg.reward.kind in ("self_certainty", "entropy"):  # their reward needs the model's logits
            console.print(
                f"[yellow]{name}: a {cfg.reward.kind} reward cannot be forecast from answers; skipped[/]"
            )
            continue
        settings.append(_forecastable(name, cfg))
    for spec in setting or []:
        name, sep, overrides = spec.partition(":")
        if not sep or not name:
            raise ConfigError(f"--setting {spec!r}: write NAME:key=value,key=value.")
        settings.append(_forecastable(name, load_config(preset, [o for o in overrides.split(",") if o])))
    try:
        temps = [float(t) for t in temperatures.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--temperatures {temperatures!r}: give numbers, e.g. 1.0,0.7.") from None
    rollout_temperature = load_config(preset).rollout.temperature
    result = run_probe(
        model, data, settings=settings, rollout_temperature=rollout_temperature, temperatures=temps,
        samples=samples, limit=limit, max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed, out=out, reuse=reuse,
        transfer=transfer,
    )  # fmt: skip
    console.print((out / "probe.md").read_text())
    console.print(f"wrote [bold]{out}[/] (probe.json, probe.md, probe.png)")
    del result


def _forecastable(name: str, cfg: Any) -> Any:
    """The probe's view of a setting, with a note when part of it is out of the forecast's sight."""
    from cuma_lite.probe import setting_of

    if cfg.curriculum.mode != "off":
        console.print(
            f"[yellow]{name}: the forecast sees the label, the reward and the group, not the curriculum "
            f"(curriculum.mode={cfg.curriculum.mode}); it is that of the same setting drawing prompts uniformly[/]"
        )
    return setting_of(name, cfg)
