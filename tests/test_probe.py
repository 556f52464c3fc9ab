"""`cuma-lite probe` end to end on a scripted generator (no model), and its report."""

from __future__ import annotations

import json
import random

import pytest

from cuma_lite.forecast import Setting
from cuma_lite.probe import load_samples, markdown, report, sample_prompts, verdict
from cuma_lite.rollout import FakeGenerator
from cuma_lite.shaping import Shaping

ITEMS = [{"id": f"p{i}", "problem": f"Compute {i}+{i}.", "answer": str(2 * i), "difficulty": 1 + i % 2}
         for i in range(1, 41)]  # fmt: skip


def respond(prompt: str, rng: random.Random) -> str:
    """Right 40% of the time, else off by one or two (a weak model's samples)."""
    i = int(prompt.split("Compute ")[1].split("+")[0])
    return f"\\boxed{{{2 * i if rng.random() < 0.4 else 2 * i + rng.choice([1, 2])}}}"


def test_sampling_reads_greedy_and_sampled_answers():
    prompts = sample_prompts(
        FakeGenerator(respond), ITEMS, samples=16, temperature=1.0, max_new_tokens=32, style="plain"
    )
    assert len(prompts) == 40 and all(len(p.samples) == 16 for p in prompts)
    assert prompts[0].gold == "2" and prompts[0].level == 2
    right = sum(sum(p.right()) for p in prompts) / (40 * 16)
    assert 0.3 < right < 0.5


def test_the_report_forecasts_each_setting_and_says_which_helps(tmp_path):
    prompts = sample_prompts(
        FakeGenerator(respond), ITEMS, samples=16, temperature=1.0, max_new_tokens=32, style="plain"
    )
    settings = [
        Setting("ttrl"),
        Setting("gold", gold=True),
        Setting("greedy", shaping=Shaping(label="greedy")),
    ]
    rep = report(prompts, settings)
    by = {s["setting"]["name"]: s for s in rep["settings"]}
    assert by["gold"]["alignment"] == pytest.approx(1.0)
    assert set(rep["label_quality"]) >= {"greedy", "plurality@8", "mean@k", "pass@k"}
    assert sum(r["coverage"] for r in rep["precision_by_share"]) == pytest.approx(1.0)
    result = {"model": "fake", "data": "items", "rollout_temperature": 1.0, "temperatures": {"1.0": rep}}
    result["verdict"] = verdict(result)
    assert "greedy" in result["verdict"] and "| ttrl |" in markdown(result)


def test_saved_samples_load_back(tmp_path):
    path = tmp_path / "samples_T1.0.jsonl"
    path.write_text(json.dumps({"greedy": "4", "samples": ["4", None], "gold": "4", "level": 1}) + "\n")
    (p,) = load_samples(path)
    assert p.samples == ["4", None] and p.greedy_right()


def test_the_cli_refuses_unknown_methods_and_bad_settings():
    from typer.testing import CliRunner

    from cuma_lite.cli import app

    bad = CliRunner().invoke(
        app, ["probe", "--model", "embedded:tiny-math", "--data", "math500", "--methods", "x"]
    )
    assert bad.exit_code == 2 and "unknown method" in bad.output
    bad = CliRunner().invoke(
        app, ["probe", "--model", "embedded:tiny-math", "--data", "math500", "--setting", "x"]
    )
    assert bad.exit_code == 2 and "NAME:key=value" in bad.output


def test_a_missing_data_file_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import cuma_lite.backends.hf as hf
    from cuma_lite.cli import app

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the data file was checked")

    monkeypatch.setattr(hf, "load_inference_model", load)
    missing = tmp_path / "nope.jsonl"
    bad = CliRunner().invoke(app, ["probe", "--model", "embedded:tiny-math", "--data", str(missing), "--out",
                                   str(tmp_path / "out")])  # fmt: skip
    assert isinstance(bad.exception, SystemExit) and "file not found" in bad.output, bad.output


def test_the_cli_says_when_a_methods_curriculum_is_outside_the_forecast(tmp_path):
    """`cuma+band` differs from `cuma` only in which prompts it draws, which the forecast does not model: the
    two get the same forecast, and the CLI says so for the one with a curriculum."""
    from typer.testing import CliRunner

    from cuma_lite.cli import app

    rows = [{"greedy": "4", "samples": ["4", "4", "5", "4"] * 2, "gold": "4", "level": 1}] * 3
    (tmp_path / "samples_T1.0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = CliRunner().invoke(
        app,
        ["probe", "--model", "no/such-model", "--data", "x", "--out", str(tmp_path), "--reuse",
         "--methods", "cuma,cuma+band", "--temperatures", "1.0"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    flat = " ".join(done.output.split())
    assert "cuma+band: the forecast sees the label, the reward and the group, not the curriculum" in flat
    assert "cuma: the forecast" not in flat
    by_name = {
        s["setting"]["name"]: s
        for s in json.loads((tmp_path / "probe.json").read_text())["temperatures"]["1.0"]["settings"]
    }
    assert by_name["cuma"]["alignment"] == by_name["cuma+band"]["alignment"]


def test_reuse_forecasts_from_saved_answers_without_the_model(tmp_path):
    """--reuse: a model that cannot load proves nothing was sampled; the forecast equals one from the answers."""
    from cuma_lite.probe import run_probe

    prompts = sample_prompts(
        FakeGenerator(respond), ITEMS, samples=8, temperature=1.0, max_new_tokens=32, style="plain"
    )
    rows = [{"greedy": p.greedy, "samples": p.samples, "gold": p.gold, "level": p.level} for p in prompts]
    (tmp_path / "samples_T1.0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = [Setting("ttrl"), Setting("greedy", shaping=Shaping(label="greedy"))]
    result = run_probe("no/such-model", "no-such-data", settings=settings, out=tmp_path, reuse=True)
    same = json.dumps(result["temperatures"]["1.0"], sort_keys=True)
    assert same == json.dumps(report(prompts, settings), sort_keys=True)
    assert (tmp_path / "probe.md").exists() and (tmp_path / "probe.png").exists()
    json.loads(
        (tmp_path / "probe.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in probe.json")
    )
    from cuma_lite.errors import UserError

    with pytest.raises(UserError, match="run the probe once with --transfer"):  # no completions were saved
        run_probe("no/such-model", "no-such-data", settings=settings, out=tmp_path, reuse=True, transfer=True)


def test_transfer_trains_on_even_prompts_and_holds_out_the_odd_with_all_samples(monkeypatch):
    """The split the transfer forecast gets: graded prompts only; even ones train on their first G samples, odd
    ones are held out with all K, their gold advantages centred over K."""
    import cuma_lite.transfer
    from cuma_lite.forecast import PromptSamples
    from cuma_lite.models.tiny import build_tokenizer
    from cuma_lite.probe import transfer_of

    seen = {}

    def capture(model, train, held_out, advantages, gold, held_out_gold, **kwargs):
        seen.update(train=train, held_out=held_out, gold=[gold(k) for k in range(len(train))],
                    held_out_gold=[held_out_gold(k) for k in range(len(held_out))])  # fmt: skip
        return []

    monkeypatch.setattr(cuma_lite.transfer, "transfer_forecast", capture)
    items = [{"problem": f"Compute {i}+0."} for i in range(5)]
    answers = [
        ["1", "2", "2", "2"],
        ["1", "1", "2", "2"],
        ["1", "1", "1", "1"],
        ["1", "1", "1", "2"],
        ["2", "2", "2", "1"],
    ]
    prompts = [PromptSamples(a, "1", None if i == 2 else "1") for i, a in enumerate(answers)]
    tokens = [[[100 + 10 * i + s] for s in range(4)] for i in range(5)]  # completion s of prompt i: one token
    model = type("Model", (), {"eval": lambda self: self})()
    transfer_of(model, build_tokenizer(), items, prompts, tokens, [Setting("ttrl", group=2)], "plain")
    assert [[c for _, c in g] for g in seen["train"]] == [
        [[100], [101]],
        [[130], [131]],
    ]  # prompts 0, 3: first 2 (2: no gold)
    assert [[c for _, c in g] for g in seen["held_out"]] == [
        [[110 + s] for s in range(4)],
        [[140 + s] for s in range(4)],
    ]
    # the advantages are those of the same prompts: held out 1 and 4 (all 4 samples), training 0 and 3 (first 2)
    assert seen["held_out_gold"] == [[0.5, 0.5, -0.5, -0.5], [-0.25, -0.25, -0.25, 0.75]]
    assert seen["gold"] == [[0.5, -0.5], [0.0, 0.0]]
