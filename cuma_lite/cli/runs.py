"""``cuma-lite eval``, ``export`` and ``report``: measure, move and compare what runs produced."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cuma_lite.cli.common import console, friendly_errors
from cuma_lite.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
    app.command("export")(export)
    app.command("report")(report)


@friendly_errors
def eval_(
    data: Annotated[str, typer.Option(help="math500, aime24, amc23, or a JSONL file with gold answers.")],
    model: Annotated[
        str, typer.Option(help="Hub id, model directory, run directory, or embedded:tiny-math.")
    ] = "embedded:tiny-math",
    adapter: Annotated[str | None, typer.Option(help="A LoRA adapter directory to apply to --model.")] = None,
    samples: Annotated[
        int, typer.Option(min=1, help="K samples a problem for maj@K / pass@K (1 = greedy only).")
    ] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N problems.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the results as JSON here.")] = None,
    min_share: Annotated[
        float, typer.Option(min=0.0, max=0.999, help="Mask threshold for the mask rate.")
    ] = 0.5,
    temperature: Annotated[float, typer.Option(min=0.01, help="Sampling temperature for --samples.")] = 1.0,
    top_p: Annotated[float, typer.Option(min=0.01, max=1.0, help="Nucleus sampling for --samples.")] = 1.0,
    max_new_tokens: Annotated[
        int | None, typer.Option(min=1, help="Completion length (default: see docs).")
    ] = None,
    prompt_style: Annotated[
        str | None, typer.Option(help="plain or chat (default: the model's own).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Generation batch size.")] = 64,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Accuracy per difficulty level: greedy, and maj@K / pass@K / majority share / mask rate with --samples."""
    import json

    from cuma_lite.data.io import atomic_writer
    from cuma_lite.evaluation import evaluate_source

    if prompt_style not in (None, "plain", "chat"):
        raise ConfigError(f"--prompt-style {prompt_style!r}: choose plain or chat.")
    result = evaluate_source(
        model,
        data,
        adapter=adapter,
        samples=samples,
        limit=limit,
        min_share=min_share,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        prompt_style=prompt_style,  # type: ignore[arg-type]
        batch_size=batch_size,
        seed=seed,
    )
    console.print(_eval_table(result))
    if out is not None:
        result["greedy"]["per_level"] = {str(k): v for k, v in result["greedy"]["per_level"].items()}
        if "sampled" in result:
            result["sampled"]["per_level"] = {str(k): v for k, v in result["sampled"]["per_level"].items()}
        with atomic_writer(out) as fh:
            json.dump(result, fh, indent=2)
        console.print(f"wrote [bold]{out}[/]")


def _eval_table(result: dict[str, Any]) -> Table:
    greedy, sampled = result["greedy"], result.get("sampled")
    table = Table("level", "n", "greedy", title=f"{result['model']} on {result['data']}")
    if sampled:
        k = sampled["k"]
        for col in (f"maj@{k}", f"pass@{k}", "share", f"masked@{sampled['min_share']}"):
            table.add_column(col, justify="right")

    def cells(g: dict[str, Any], s: dict[str, Any] | None) -> list[str]:
        row = [str(g["n"]), f"{g['accuracy']:.3f}"]
        if s:
            k = sampled["k"]  # type: ignore[index]
            row += [
                f"{s[f'maj@{k}']:.3f}",
                f"{s[f'pass@{k}']:.3f}",
                f"{s['majority_share']:.3f}",
                f"{s['mask_rate']:.3f}",
            ]
        return row

    for level, g in greedy["per_level"].items():
        s = sampled["per_level"].get(level) if sampled else None
        table.add_row("-" if level is None else str(level), *cells(g, s))
    table.add_section()
    table.add_row("all", *cells(greedy, sampled))
    return table


@friendly_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its adapter/ or model/ directory).")],
    format_: Annotated[
        str, typer.Option("--format", help="adapter (peft LoRA), merged (plain transformers model) or gguf.")
    ] = "adapter",
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: RUN_DIR/export-FORMAT).")
    ] = None,
    dtype: Annotated[
        str, typer.Option(help="merged: auto (the base's dtype), bfloat16, float16, float32.")
    ] = "auto",
) -> None:
    """Export a run's weights: the LoRA adapter, a merged model, or GGUF (GPU + Unsloth)."""
    from cuma_lite.export import export_run

    if format_ not in ("adapter", "merged", "gguf"):
        raise ConfigError(f"--format {format_!r}: choose adapter, merged or gguf.")
    if dtype not in ("auto", "bfloat16", "float16", "float32"):
        raise ConfigError(f"--dtype {dtype!r}: choose auto, bfloat16, float16 or float32.")
    target = export_run(run_dir, format_, out or run_dir / f"export-{format_}", dtype=dtype)  # type: ignore[arg-type]
    console.print(f"exported [bold]{format_}[/] to [bold]{target}[/]")


@friendly_errors
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories to overlay.")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("report.png"),
    smooth: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="EMA smoothing of the curves (0 = raw).")
    ] = 0.0,
) -> None:
    """Training curves (reward, share, mask rate, label accuracy, level, length) and held-out accuracy."""
    from cuma_lite import report as rep

    runs = [rep.load_run(d) for d in run_dirs]
    path = rep.plot_runs(runs, out, smooth=smooth)
    console.print(f"wrote [bold]{path}[/]")
    rows = rep.eval_table(runs)
    if rows:
        table = Table("run", "level", "before", "after", title="held-out greedy accuracy")
        for r in rows:
            table.add_row(r["run"], r["level"], _pct(r["before"]), _pct(r["after"]))
        console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
