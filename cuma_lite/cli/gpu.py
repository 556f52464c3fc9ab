"""``cuma-lite plan`` and ``cuma-lite doctor``: will it fit, and can this machine run it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cuma_lite.cli.common import console, friendly_errors
from cuma_lite.errors import ConfigError

# ``plan --model M`` without a preset: the GPU recipe the presets share (Unsloth 4-bit QLoRA, vLLM standby)
MODEL_DEFAULTS = (
    "model.backend=unsloth",
    "model.load_in_4bit=true",
    "model.prompt_style=chat",
    "model.max_seq_length=1536",
    "model.gpu_memory_utilization=0.6",
    "lora.r=16",
    "lora.alpha=32",
    "rollout.num_generations=8",
    "rollout.max_new_tokens=1024",
    "train.prompts_per_step=8",
    "train.gradient_accumulation_steps=8",
    "train.gradient_checkpointing=true",
)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("doctor")(doctor)


@friendly_errors
def plan(
    preset: Annotated[str | None, typer.Option(help="Preset name or YAML file to plan.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Hub id or model directory (with config.json) instead of the preset's.")
    ] = None,
    gpu_mem: Annotated[
        float | None,
        typer.Option(
            help="Card memory in GiB (default: from the preset name, e.g. 8gb, or the visible GPU)."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key, e.g. --set rollout.num_generations=4."),
    ] = None,
) -> None:
    """Estimate the GPU memory a run needs, term by term; exit 1 with settings that fit when it doesn't."""
    from cuma_lite.config import load_config
    from cuma_lite.gpu.plan import card_gib_from_name, detect_gpu_mem_gib, plan_config

    if preset is None and model is None:
        raise ConfigError("give --preset NAME or --model HUB_ID_OR_DIR (with --gpu-mem GiB).")
    overrides = [] if preset is not None else list(MODEL_DEFAULTS)
    if model is not None:
        overrides.append(f"model.name={model}")
    overrides += list(set_ or [])
    cfg = load_config(preset, overrides)
    card = gpu_mem or (card_gib_from_name(preset) if preset else None) or detect_gpu_mem_gib()
    if card is None:
        raise ConfigError(
            "no card size: pass --gpu-mem GiB (the preset name has no <N>gb and no GPU is visible)."
        )
    result = plan_config(cfg, card)
    console.print(result.table())
    console.print(result.verdict(), highlight=False)
    if not result.fits:
        suggestions = result.suggestions()
        if suggestions:
            console.print("settings the planner expects to fit (cheapest first):")
            for s in suggestions:
                console.print(f"  {s}", highlight=False, markup=False)
        else:
            console.print("no setting on the planner's grid fits this card: try a smaller model.")
        raise typer.Exit(1)


@friendly_errors
def doctor() -> None:
    """Installed versions against the tested set, the GPU, and which backends can run here."""
    from cuma_lite.gpu.doctor import backends, gpu_info, packages

    pkgs = packages()
    versions = Table(
        "package", "installed", "tested", "status", title="versions (the tested set: README, Development)"
    )
    colour = {"ok": "green", "differs": "yellow", "missing": "red"}
    for p in pkgs:
        versions.add_row(p.name, p.installed or "-", p.tested, f"[{colour[p.status]}]{p.status}[/]")
    console.print(versions)
    import platform

    console.print(f"Python {platform.python_version()} (the pinned stack needs >= 3.11)", highlight=False)
    gpu = gpu_info()
    if gpu.name:
        free = f", {gpu.free_gib:.1f} GiB free" if gpu.free_gib is not None else ""
        extra = "".join(
            [
                f", compute capability {gpu.capability[0]}.{gpu.capability[1]}" if gpu.capability else "",
                f", driver {gpu.driver}" if gpu.driver else "",
                f", torch built for CUDA {gpu.cuda}" if gpu.cuda else "",
            ]
        )
        console.print(
            f"GPU: {gpu.name}, {gpu.total_gib:.1f} GiB total{free}{extra} (via {gpu.how})", highlight=False
        )
    else:
        console.print(f"GPU: none -- {escape(gpu.how)}", highlight=False)
    table = Table("backend", "runs here", "why", title="backends")
    found = backends(pkgs, gpu)
    for b in found:
        table.add_row(b.name, "[green]yes[/]" if b.runs_here else "[red]no[/]", escape(b.why))
    console.print(table)
    for b in found:
        if not b.runs_here:
            console.print(f"to run [bold]{b.name}[/] here: {escape(b.install)}", highlight=False)
