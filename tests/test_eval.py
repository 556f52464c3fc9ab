"""`cuma-lite eval`: grading and aggregation are right (scripted generations), and bad input is explained."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cuma_lite import evaluation
from cuma_lite.benchmarks import BENCHMARKS, load_eval_items
from cuma_lite.cli import app

runner = CliRunner()


def test_benchmarks_ship_with_the_package():
    counts = {name: len(load_eval_items(name)) for name in BENCHMARKS}
    assert counts == {"math500": 500, "aime24": 30, "amc23": 83}
    math = load_eval_items("math500")
    assert {r["difficulty"] for r in math} == {1, 2, 3, 4, 5}


def script_generations(monkeypatch, answer_for):
    """Replace the model's generations: each prompt's completion(s) come from ``answer_for(gold, j)``."""
    from cuma_lite.rollout import hf
    from cuma_lite.rollout.contract import Completion

    items = load_eval_items("math500", limit=12)

    def prompt_key(prompt: str) -> str:
        return next(i["answer"] for i in items if i["problem"] in prompt)

    class Scripted:  # a Generator: greedy says "So the answer is ...", samples box their answer
        def __init__(self, *args, **kwargs) -> None:
            pass

        def generate(self, prompts, spec, lora=None, *, on_batch=None):
            def text(p: str, j: int) -> str:
                answer = f"\\boxed{{{answer_for(prompt_key(p), j)}}}"
                return f"So the answer is {answer}" if spec.greedy else answer

            return [[Completion(text(p, j), ()) for j in range(spec.n)] for p in prompts]

    monkeypatch.setattr(hf, "HFGenerator", Scripted)


@pytest.mark.parametrize(
    ("answer_for", "expected"),
    [
        (lambda gold, j: gold, {"greedy": 1.0, "maj@4": 1.0, "pass@4": 1.0, "mask_rate": 0.0}),
        (lambda gold, j: f"{gold}+1", {"greedy": 0.0, "maj@4": 0.0, "pass@4": 0.0, "mask_rate": 0.0}),
        # one right sample of four, three different wrong ones: pass but no majority (share 1/4: masked)
        (
            lambda gold, j: gold if j == 0 else f"{gold}+{j}",
            {"greedy": 1.0, "maj@4": 1.0, "pass@4": 1.0, "mask_rate": 1.0},
        ),
        # a confident wrong majority: 3 of 4 agree on a wrong answer
        (
            lambda gold, j: gold if j == 3 else f"{gold}+7",
            {"greedy": 0.0, "maj@4": 0.0, "pass@4": 1.0, "mask_rate": 0.0},
        ),
    ],
)
def test_scripted_model_is_graded_exactly(monkeypatch, tmp_path, answer_for, expected):
    script_generations(monkeypatch, answer_for)
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app, ["eval", "--data", "math500", "--limit", "12", "--samples", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["greedy"]["accuracy"] == expected["greedy"] and saved["greedy"]["n"] == 12
    sampled = saved["sampled"]
    for key in ("maj@4", "pass@4", "mask_rate"):
        assert sampled[key] == expected[key], key
    assert set(sampled["per_level"]) == {str(r["difficulty"]) for r in load_eval_items("math500", limit=12)}
    assert "maj@4" in result.output and "all" in result.output


def test_greedy_eval_of_the_embedded_model_on_math500_runs():
    """The real model end to end on a few MATH-500 problems (it scores ~0 there; the pipeline must run)."""
    result = evaluation.evaluate_source("embedded:tiny-math", "math500", limit=3, max_new_tokens=8)
    assert result["greedy"]["n"] == 3 and 0.0 <= result["greedy"]["accuracy"] <= 1.0
    assert result["prompt_style"] == "plain"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--data", "gsm8k"], "unknown benchmark 'gsm8k'"),
        (["--data", "math500", "--model", "/nonexistent/model"], "no such directory"),
        (["--data", "math500", "--adapter", "/tmp"], "no adapter_config.json"),
        (["--data", "math500", "--prompt-style", "poem"], "choose plain or chat"),
    ],
)
def test_eval_bad_input(args, fragment):
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code != 0 and fragment in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_adapter_for_another_base_is_refused(tmp_path, tiny_policy):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model, _ = tiny_policy  # hidden 64: not the embedded model's 128
    model.save_pretrained(tmp_path / "base")
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj"])).save_pretrained(tmp_path / "adapter")
    result = runner.invoke(
        app, ["eval", "--data", "math500", "--limit", "1", "--adapter", str(tmp_path / "adapter")]
    )
    assert result.exit_code == 1
    assert "does not fit the base model" in " ".join(result.output.split())
