"""``cuma-lite probe``: before any training, will label-free RL help this model on these prompts?

Samples the model on the prompts (greedy, and K samples at each temperature), then reports what
:mod:`cuma_lite.forecast` computes: greedy accuracy, the plurality label's accuracy for several pool sizes,
its precision and coverage by agreement share, how often a rare answer is wrong, the mode-shift budget, and for
each training setting its gold alignment: the predicted gain as a share of the gold reward's, with an interval and
a verdict. Gold answers (of a dev subset) grade these statistics and give gold's advantages; no training reads
them. Writes ``probe.json``, ``probe.md`` and ``probe.png`` into ``--out``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cuma_lite.config import Config
from cuma_lite.extraction import extract_answer
from cuma_lite.forecast import (
    HELP_AT,
    PromptSamples,
    Setting,
    gold_alignment,
    label_quality,
    mode_shift_budget,
    precision_by_share,
    rare_answers,
)
from cuma_lite.prompts import PromptStyle, format_prompt
from cuma_lite.rollout.contract import Generator, SamplingSpec, texts


def setting_of(name: str, cfg: Config) -> Setting:
    """What a config's training would do to a group's advantages (the probe's view of a method)."""
    r = cfg.reward
    return Setting(
        name,
        cfg.rollout.num_generations,
        cfg.vote.min_share,
        cfg.vote.pool_size,
        r.shaping(),
        r.kind == "gold",
    )


def sample_prompts(
    generator: Generator,
    items: Sequence[dict[str, Any]],
    *,
    samples: int,
    temperature: float,
    max_new_tokens: int,
    style: PromptStyle,
    seed: int = 0,
    greedy: Sequence[str | None] | None = None,
) -> list[PromptSamples]:
    """Each item's greedy answer (decoded unless given) and ``samples`` sampled answers."""
    prompts = [format_prompt(item["problem"], style) for item in items]
    if greedy is None:
        decoded = texts(generator.generate(prompts, SamplingSpec.greedy_spec(max_new_tokens)))
        greedy = [extract_answer(g[0]) for g in decoded]
    spec = SamplingSpec(n=samples, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    sampled = texts(generator.generate(prompts, spec))
    return [
        PromptSamples(
            [extract_answer(c) for c in group],
            g,
            None if item.get("answer") in (None, "") else str(item["answer"]),
            item.get("difficulty"),
        )
        for item, g, group in zip(items, greedy, sampled, strict=True)
    ]


def report(prompts: Sequence[PromptSamples], settings: Sequence[Setting], *, seed: int = 0) -> dict[str, Any]:
    """Everything the probe says about one set of samples (one temperature)."""
    alignments = [gold_alignment(prompts, s, seed=seed) for s in settings]
    return {
        "prompts": len(prompts),
        "graded": sum(p.gold is not None for p in prompts),
        "label_quality": label_quality(prompts),
        "precision_by_share": precision_by_share(prompts),
        "rare_answers": [rare_answers(prompts, x) for x in (0.0625, 0.125, 0.25)],
        "mode_shift_budget": {f"gate>{g:g}": mode_shift_budget(prompts, g) for g in (0.0, 0.25, 0.5, 0.75)},
        "settings": [
            {**asdict(a), "verdict": a.verdict(), "setting": asdict(s)}
            for a, s in zip(alignments, settings, strict=True)
        ],
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Probe of {result['model']} on {result['data']}", ""]
    for t, rep in result["temperatures"].items():
        q = rep["label_quality"]
        lines += [f"## Temperature {t} ({rep['prompts']} prompts, {rep['graded']} with gold answers)", ""]
        lines += ["| greedy | " + " | ".join(k for k in q if k != "greedy") + " |", "|---" * len(q) + "|"]
        lines += [
            f"| {q['greedy']:.3f} | " + " | ".join(f"{v:.3f}" for k, v in q.items() if k != "greedy") + " |",
            "",
        ]
        lines += ["| label share | coverage | precision |", "|---|---|---|"]
        lines += [f"| {r['from']:.2f}-{r['to']:.2f} | {r['coverage']:.2f} | {r['precision']:.2f} |"
                  for r in rep["precision_by_share"]]  # fmt: skip
        lines += ["", "| rare = share <= | samples flagged | wrong when flagged |", "|---|---|---|"]
        lines += [f"| {r['rare_share']:g} | {r['flagged']:.2f} | {r['wrong_when_flagged']:.2f} |"
                  for r in rep["rare_answers"]]  # fmt: skip
        lines += [
            "",
            "mode-shift budget: " + ", ".join(f"{k} {v:+.3f}" for k, v in rep["mode_shift_budget"].items()),
        ]
        lines += [
            "",
            "| setting | gold alignment (95% CI) | cosine | groups with gradient | verdict |",
            "|---|---|---|---|---|",
        ]
        for s in rep["settings"]:
            lo, hi = s["interval"]
            lines.append(f"| {s['setting']['name']} | {s['alignment']:+.3f} ({lo:+.3f}, {hi:+.3f}) | {s['cosine']:+.2f} | "
                         f"{s['active']:.2f} | {s['verdict']} |")  # fmt: skip
        lines.append("")
    lines += ["## Verdict", "", result["verdict"], ""]
    return "\n".join(lines)


def verdict(result: dict[str, Any]) -> str:
    """One paragraph: the best label-free setting at the rollout temperature, and whether it will help."""
    rep = result["temperatures"][str(result["rollout_temperature"])]
    label_free = [s for s in rep["settings"] if not s["setting"]["gold"]]
    if not label_free:
        return "No label-free setting was probed."
    best = max(label_free, key=lambda s: s["alignment"])
    q = rep["label_quality"]
    vote = q.get(f"plurality@{best['setting']['group']}", float("nan"))
    lo, hi = best["interval"]
    helping = [s["setting"]["name"] for s in label_free if s["verdict"] == "will help"]
    return (
        f"Greedy accuracy {q['greedy']:.3f}, plurality-of-{best['setting']['group']} {vote:.3f}: the vote "
        f"{'beats' if vote > q['greedy'] else 'does not beat'} the model's own greedy answer. The best label-free "
        f"setting probed is {best['setting']['name']}, with a predicted gain of {best['alignment']:+.2f} of the gold "
        f"reward's (95% interval {lo:+.2f} to {hi:+.2f}). Verdict: {best['verdict']} "
        f'("will help" from {HELP_AT:.2f} of gold\'s gain, the line the validation grid drew). '
        + (
            f"Settings predicted to help: {', '.join(helping)}."
            if helping
            else "No setting is predicted to help."
        )
    )


def plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for t, rep in result["temperatures"].items():
        rows = rep["precision_by_share"]
        left.plot(
            [(r["from"] + r["to"]) / 2 for r in rows], [r["precision"] for r in rows], "o-", label=f"T={t}"
        )
    left.set_xlabel("plurality share")
    left.set_ylabel("label precision (gold, diagnostic)")
    left.legend()
    rep = result["temperatures"][str(result["rollout_temperature"])]
    names = [s["setting"]["name"] for s in rep["settings"]]
    values = [s["alignment"] for s in rep["settings"]]
    errors = [[v - s["interval"][0] for v, s in zip(values, rep["settings"], strict=True)],
              [s["interval"][1] - v for v, s in zip(values, rep["settings"], strict=True)]]  # fmt: skip
    right.bar(names, values, yerr=errors)
    right.axhline(0, color="black", linewidth=0.8)
    right.set_ylabel("predicted gain / gold's")
    right.tick_params(axis="x", rotation=30)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _strict(value: Any) -> Any:
    """NaN (an empty bin, no rare answers) as null, so that probe.json is strict JSON for any reader."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def load_samples(path: Path) -> list[PromptSamples]:
    """The answers a probe saved (``samples_T<temperature>.jsonl``)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [PromptSamples(r["samples"], r["greedy"], r["gold"], r["level"]) for r in rows]


def _load(data: str, limit: int | None) -> list[dict[str, Any]]:
    """A shipped benchmark by name, or any prompt file (gold answers optional: the dev subset is where they exist)."""
    from cuma_lite.benchmarks import BENCHMARKS, load_eval_items
    from cuma_lite.data.loaders import load_rows

    rows = load_eval_items(data) if data in BENCHMARKS else load_rows(data)
    return rows[:limit] if limit else rows


def run_probe(
    model_spec: str,
    data: str,
    *,
    settings: Sequence[Setting],
    rollout_temperature: float = 1.0,
    temperatures: Sequence[float] = (1.0,),
    samples: int = 32,
    limit: int | None = 500,
    max_new_tokens: int | None = None,
    prompt_style: PromptStyle | None = None,
    batch_size: int = 256,
    seed: int = 0,
    out: Path | None = None,
    reuse: bool = False,
) -> dict[str, Any]:
    """``cuma-lite probe``: sample, forecast, and write ``probe.json``/``probe.md``/``probe.png`` into ``out``.

    ``reuse``: forecast from the answers a previous probe saved in ``out`` (``samples_T*.jsonl``) where they exist,
    so that new settings are forecast in seconds, without loading the model."""
    temps = sorted({*temperatures, rollout_temperature})
    saved = {t: out / f"samples_T{t}.jsonl" for t in temps} if out is not None else {}
    result: dict[str, Any] = {"model": model_spec, "data": data, "samples": samples,
                              "rollout_temperature": rollout_temperature, "temperatures": {}}  # fmt: skip
    generator = items = None
    greedy = None
    for t in temps:
        if reuse and t in saved and saved[t].exists():
            result["temperatures"][str(t)] = report(load_samples(saved[t]), settings, seed=seed)
            continue
        if generator is None:
            from cuma_lite.backends.hf import load_inference_model
            from cuma_lite.models.source import resolve_source
            from cuma_lite.rollout.hf import HFGenerator

            items = _load(data, limit)
            source = resolve_source(model_spec)
            default_style, default_tokens = source.generation_defaults()
            style, max_new = prompt_style or default_style, max_new_tokens or default_tokens
            generator = HFGenerator(*load_inference_model(source), batch_size=batch_size)
        prompts = sample_prompts(generator, items, samples=samples, temperature=t, max_new_tokens=max_new,
                                 style=style, seed=seed, greedy=greedy)  # fmt: skip
        greedy = [p.greedy for p in prompts]
        result["temperatures"][str(t)] = report(prompts, settings, seed=seed)
        if out is not None:  # the raw answers, so that a forecast can be recomputed without sampling again
            out.mkdir(parents=True, exist_ok=True)
            rows = [
                {"greedy": p.greedy, "samples": p.samples, "gold": p.gold, "level": p.level} for p in prompts
            ]
            (out / f"samples_T{t}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result["verdict"] = verdict(result)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe.json").write_text(json.dumps(_strict(result), indent=2))
        (out / "probe.md").write_text(markdown(result))
        plot(result, out / "probe.png")
    return result
