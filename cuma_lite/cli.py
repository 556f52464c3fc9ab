"""The ``cuma-lite`` command line: parse, build a config, call one function. No logic lives here.

User mistakes (an unknown preset, a bad override, a malformed data file) end with one clear message and a
non-zero exit code -- 2 for bad usage/config, 1 for bad data or a failed run -- never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.syntax import Syntax
from rich.table import Table

from cuma_lite.cli_common import console, friendly_errors
from cuma_lite.cli_data import data_app
from cuma_lite.cli_gpu import register as register_gpu_commands
from cuma_lite.config import dump_config, list_presets, load_config, preset_path
from cuma_lite.errors import ConfigError

app = typer.Typer(
    help="Label-free RL (TTRL + CuMa's no-majority mask and curriculum) for small reasoning models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
presets_app = typer.Typer(help="List and show the shipped presets.", no_args_is_help=True)
app.add_typer(presets_app, name="presets")
register_gpu_commands(app)
app.add_typer(data_app, name="data")

# --------------------------------------------------------------------------------------------------- presets


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
    """Print a preset file (its header says how to use it)."""
    path = preset_path(name)
    text = dump_config(load_config(name)) if resolved else path.read_text()
    console.print(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True))


# ----------------------------------------------------------------------------------------------------- train


@app.command()
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
    from cuma_lite.training import run_training  # heavy: torch, transformers, trl

    run_training(cfg, resume=resume, overwrite=overwrite)


# -------------------------------------------------------------------------------------- eval / export / report


@app.command("eval")
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


@app.command()
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
    from cuma_lite.config import load_config
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


# ------------------------------------------------------------------------------------------ export / report


@app.command()
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


@app.command()
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


def main() -> None:  # pragma: no cover - the console script calls `app` directly
    sys.exit(app())
