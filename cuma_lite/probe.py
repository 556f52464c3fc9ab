"""``cuma-lite probe``: before any training, will label-free RL help this model on these prompts?

Samples the model on the prompts (greedy, and K samples at each temperature), then reports what
:mod:`cuma_lite.forecast` computes: greedy accuracy, the plurality label's accuracy for several pool sizes,
its precision and coverage by agreement share, how often a rare answer is wrong, the mode-shift budget, and for
each training setting its gold alignment: the predicted gain as a share of the gold reward's, with an interval and
a verdict; with ``transfer``, also the transfer forecast (:mod:`cuma_lite.transfer`: the first-order effect of the
setting's Adam update on *other* prompts, from the model's gradients; it sees transfer, but at 500 prompts its
interval is too wide to give the verdict: docs/experiments.md). Gold answers (of a dev subset) grade these
statistics and give gold's advantages; no training reads them. Writes ``probe.json``, ``probe.md`` and ``probe.png``
into ``--out``, with the sampled answers (and, with ``transfer``, the completions' token ids) to ``--reuse``.
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
from cuma_lite.prompts import PromptStyle, format_prompt, prompt_token_ids
from cuma_lite.rollout.contract import Generator, SamplingSpec, texts
from cuma_lite.transfer import Transfer


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
    tokens: list[list[list[int]]] | None = None,
) -> list[PromptSamples]:
    """Each item's greedy answer (decoded unless given) and ``samples`` sampled answers; the completions' token ids
    are appended to ``tokens`` when it is given (the transfer forecast needs them)."""
    prompts = [format_prompt(item["problem"], style) for item in items]
    if greedy is None:
        decoded = texts(generator.generate(prompts, SamplingSpec.greedy_spec(max_new_tokens)))
        greedy = [extract_answer(g[0]) for g in decoded]
    spec = SamplingSpec(n=samples, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    groups = generator.generate(prompts, spec)
    if tokens is not None:
        tokens.extend([list(c.token_ids) for c in group] for group in groups)
    sampled = texts(groups)
    return [
        PromptSamples(
            [extract_answer(c) for c in group],
            g,
            None if item.get("answer") in (None, "") else str(item["answer"]),
            item.get("difficulty"),
        )
        for item, g, group in zip(items, greedy, sampled, strict=True)
    ]


def report(
    prompts: Sequence[PromptSamples],
    settings: Sequence[Setting],
    *,
    seed: int = 0,
    transfer: dict[str, Transfer] | None = None,
) -> dict[str, Any]:
    """Everything the probe says about one set of samples (one temperature); ``transfer``: the transfer forecast
    per setting, reported next to the gold alignment (which gives the verdict)."""
    alignments = [gold_alignment(prompts, s, seed=seed) for s in settings]
    transfer = transfer or {}
    return {
        "prompts": len(prompts),
        "graded": sum(p.gold is not None for p in prompts),
        "label_quality": label_quality(prompts),
        "precision_by_share": precision_by_share(prompts),
        "rare_answers": [rare_answers(prompts, x) for x in (0.0625, 0.125, 0.25)],
        "mode_shift_budget": {f"gate>{g:g}": mode_shift_budget(prompts, g) for g in (0.0, 0.25, 0.5, 0.75)},
        "settings": [
            {
                **asdict(a),
                "transfer": _transfer_row(transfer.get(s.name)),
                "verdict": a.verdict(),
                "setting": asdict(s),
            }
            for a, s in zip(alignments, settings, strict=True)
        ],
    }


def _transfer_row(t: Transfer | None) -> dict[str, Any] | None:
    return None if t is None else {"transfer": t.transfer, "interval": list(t.interval)}


def transfer_of(
    model: Any,
    tokenizer: Any,
    items: Sequence[dict[str, Any]],
    prompts: Sequence[PromptSamples],
    tokens: Sequence[Sequence[Sequence[int]]],
    settings: Sequence[Setting],
    style: PromptStyle,
    *,
    seed: int = 0,
) -> dict[str, Transfer]:
    """The transfer forecast of each setting, on the prompts with gold answers: the even ones train (each setting
    on its first ``group`` samples, voting over the next ``pool``, as in
    :func:`cuma_lite.forecast.gold_alignment`), the odd ones are held out with all their samples (a file sorted by
    level splits evenly)."""
    from cuma_lite.forecast import setting_advantages
    from cuma_lite.transfer import transfer_forecast

    graded = [j for j, p in enumerate(prompts) if p.gold is not None]
    group = max(s.group for s in settings)
    if len(graded) < 2 or any(len(tokens[j]) < max(s.group + s.pool for s in settings) for j in graded):
        return {}
    prompt_ids = prompt_token_ids([format_prompt(items[j]["problem"], style) for j in graded], tokenizer)
    group_of = {j: [(ids, list(c)) for c in tokens[j]] for ids, j in zip(prompt_ids, graded, strict=True)}
    # prompt indices: the groups and the advantages below both follow them
    train, held_out = graded[0::2], graded[1::2]

    def advantages(setting: Setting) -> Any:
        def of(k: int) -> list[float]:
            p = prompts[train[k]]
            g, extra = p.samples[: setting.group], p.samples[setting.group : setting.group + setting.pool]
            adv = setting_advantages(setting, g, extra, p.right()[: setting.group], p.greedy)
            return adv + [0.0] * (group - len(adv))

        return of

    def held_out_gold(k: int) -> list[float]:
        right = [float(r) for r in prompts[held_out[k]].right()]
        return [r - sum(right) / len(right) for r in right]

    gold = Setting("gold", group=group, gold=True)
    named = {s.name: advantages(s) for s in settings}
    model.eval()
    forecasts = transfer_forecast(model, [group_of[j][:group] for j in train], [group_of[j] for j in held_out],
                                  named, advantages(gold), held_out_gold, seed=seed)  # fmt: skip
    return {t.setting: t for t in forecasts}


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
        moved = any(s.get("transfer") for s in rep["settings"])
        lines += [
            "",
            "| setting | gold alignment (95% CI) | cosine | groups with gradient | "
            + ("transfer (95% CI) | " if moved else "")
            + "verdict |",
            "|---|---|---|---|" + ("---|" if moved else "") + "---|",
        ]
        for s in rep["settings"]:
            lo, hi = s["interval"]
            t = s.get("transfer")
            cell = (
                ""
                if not moved
                else "- | "
                if not t
                else f"{t['transfer']:+.3f} ({t['interval'][0]:+.3f}, {t['interval'][1]:+.3f}) | "
            )
            lines.append(f"| {s['setting']['name']} | {s['alignment']:+.3f} ({lo:+.3f}, {hi:+.3f}) | {s['cosine']:+.2f} | "
                         f"{s['active']:.2f} | {cell}{s['verdict']} |")  # fmt: skip
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
    moved = best.get("transfer")
    transfer = (
        ""
        if not moved
        else f"Its transfer forecast (what training does to other prompts): {moved['transfer']:+.2f} "
        f"({moved['interval'][0]:+.2f} to {moved['interval'][1]:+.2f}). "
    )
    return (
        f"Greedy accuracy {q['greedy']:.3f}, plurality-of-{best['setting']['group']} {vote:.3f}: the vote "
        f"{'beats' if vote > q['greedy'] else 'does not beat'} the model's own greedy answer. The best label-free "
        f"setting probed is {best['setting']['name']}, with a predicted gain of {best['alignment']:+.2f} of the gold "
        f"reward's (95% interval {lo:+.2f} to {hi:+.2f}). {transfer}Verdict: {best['verdict']} "
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
    transfer: bool = False,
) -> dict[str, Any]:
    """``cuma-lite probe``: sample, forecast, and write ``probe.json``/``probe.md``/``probe.png`` into ``out``.

    ``reuse``: forecast from the answers a previous probe saved in ``out`` (``samples_T*.jsonl``) where they exist,
    so that new settings are forecast in seconds; the transfer forecast (``transfer``, at the rollout temperature)
    still loads the model for its gradients, from the saved completions (``completions_T*.jsonl``)."""
    temps = sorted({*temperatures, rollout_temperature})
    saved = {t: out / f"samples_T{t}.jsonl" for t in temps} if out is not None else {}
    result: dict[str, Any] = {"model": model_spec, "data": data, "samples": samples,
                              "rollout_temperature": rollout_temperature, "temperatures": {}}  # fmt: skip
    loaded: dict[str, Any] = {}

    def model() -> dict[str, Any]:
        if not loaded:
            from cuma_lite.backends.hf import load_inference_model
            from cuma_lite.models.source import resolve_source
            from cuma_lite.rollout.hf import HFGenerator

            items = _load(data, limit)  # first: a bad path is reported before the model loads
            source = resolve_source(model_spec)
            default_style, default_tokens = source.generation_defaults()
            net, tokenizer = load_inference_model(source)
            loaded.update(items=items, net=net, tokenizer=tokenizer,
                          style=prompt_style or default_style, max_new=max_new_tokens or default_tokens,
                          generator=HFGenerator(net, tokenizer, batch_size=batch_size))  # fmt: skip
        return loaded

    greedy = None
    for t in temps:
        completions = out / f"completions_T{t}.jsonl" if out is not None else None
        tokens: list[list[list[int]]] | None = None
        if reuse and t in saved and saved[t].exists():
            prompts = load_samples(saved[t])
            if completions is not None and completions.exists():
                tokens = [json.loads(line) for line in completions.read_text().splitlines()]
            elif transfer and t == rollout_temperature:
                from cuma_lite.errors import UserError

                raise UserError(
                    f"--transfer --reuse needs the completions a probe with --transfer saved ({completions}); "
                    "run the probe once with --transfer and without --reuse."
                )
        else:
            m, tokens = model(), []
            prompts = sample_prompts(m["generator"], m["items"], samples=samples, temperature=t,
                                     max_new_tokens=m["max_new"], style=m["style"], seed=seed, greedy=greedy,
                                     tokens=tokens)  # fmt: skip
            greedy = [p.greedy for p in prompts]
            if out is not None:
                # the raw answers, so that a forecast can be recomputed without sampling again
                out.mkdir(parents=True, exist_ok=True)
                rows = [
                    {"greedy": p.greedy, "samples": p.samples, "gold": p.gold, "level": p.level}
                    for p in prompts
                ]
                (out / f"samples_T{t}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
                if transfer and completions is not None:
                    # token ids: large for long completions, so only with --transfer
                    completions.write_text("".join(json.dumps(g) + "\n" for g in tokens))
        moved = None
        if transfer and t == rollout_temperature and tokens:
            m = model()
            moved = transfer_of(m["net"], m["tokenizer"], m["items"], prompts, tokens, settings, m["style"],
                                seed=seed)  # fmt: skip
        result["temperatures"][str(t)] = report(prompts, settings, seed=seed, transfer=moved)
    result["verdict"] = verdict(result)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe.json").write_text(json.dumps(_strict(result), indent=2))
        (out / "probe.md").write_text(markdown(result))
        plot(result, out / "probe.png")
    return result
