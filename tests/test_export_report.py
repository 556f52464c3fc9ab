"""Export (adapter, merged, gguf) and the report figure, on tiny models and synthetic metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cuma_lite.cli import app

runner = CliRunner()


@pytest.fixture
def lora_run(tmp_path, tiny_policy) -> tuple[Path, Path]:
    """A run directory whose adapter/ holds a (non-trivial) LoRA adapter over a tiny base saved on disk."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model, tokenizer = tiny_policy
    base_dir = tmp_path / "base"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir)  # as in a run: the adapter records the base's path
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(0))
    run = tmp_path / "run"
    peft_model.save_pretrained(run / "adapter")
    tokenizer.save_pretrained(run / "adapter")
    return run, base_dir


def test_merged_export_matches_base_plus_adapter(lora_run, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, base_dir = lora_run
    result = runner.invoke(app, ["export", str(run), "--format", "merged", "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), run / "adapter")
    plain_base = AutoModelForCausalLM.from_pretrained(base_dir)
    ids = AutoTokenizer.from_pretrained(tmp_path / "merged")(
        ["Q: Compute 12+7-3.\nA: "], return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        merged_logits, ref_logits = merged(ids).logits, reference(ids).logits
        assert (
            ref_logits - plain_base(ids).logits
        ).abs().max() > 1e-3  # the adapter really changes the model
    assert (merged_logits - ref_logits).abs().max() < 1e-4


def test_adapter_export_is_peft_loadable(lora_run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run, base_dir = lora_run
    result = runner.invoke(app, ["export", str(run), "--format", "adapter", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {
        p.name for p in (tmp_path / "a").iterdir()
    }
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), tmp_path / "a")


def test_export_bad_input(lora_run, tmp_path):
    run, _ = lora_run
    full = tmp_path / "full"
    (full / "model").mkdir(parents=True)
    (full / "model" / "config.json").write_text("{}")
    cases = [
        (["export", str(full), "--format", "adapter"], "there is no adapter"),
        (["export", str(tmp_path / "nothing")], "no final weights"),
        (["export", str(run), "--format", "onnx"], "choose adapter, merged or gguf"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append(
            (["export", str(run), "--format", "gguf", "--out", str(tmp_path / "g")], "needs a CUDA GPU")
        )
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code != 0 and fragment in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "g").exists()


def fake_run(path: Path, shape) -> Path:
    """A run directory with 30 steps of metrics following ``shape(step)`` and two held-out evaluations."""
    path.mkdir(parents=True)
    lines = [{"step": 0, "eval_tag": "before", "eval_accuracy": 0.3, "eval_per_level": {"1": 0.5, "2": 0.1}}]
    for s in range(1, 31):
        v = shape(s)
        lines.append(
            {
                "step": s,
                "reward_mean": v,
                "majority_share": 0.4 + 0.5 * v,
                "mask_rate": 1 - v,
                "pseudo_label_acc": v * 0.9,
                "level_mean": 1 + round(2 * v),
                "completion_length": 30 + 10 * v,
            }
        )
    lines.append(
        {"step": 30, "eval_tag": "after", "eval_accuracy": shape(30), "eval_per_level": {"1": 0.6, "2": 0.2}}
    )
    (path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_report_draws_different_runs_differently(tmp_path):
    import matplotlib.image as mpimg

    rising = fake_run(tmp_path / "cuma", lambda s: s / 30)
    falling = fake_run(tmp_path / "ttrl", lambda s: 0.5 + 0.4 * math.cos(s / 5))
    images = {}
    for name, run in (("a", rising), ("b", falling)):
        result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / f"{name}.png")])
        assert result.exit_code == 0, result.output
        images[name] = mpimg.imread(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000
    a, b = images["a"], images["b"]
    assert a.shape == b.shape and a.shape[0] > 400 and a.shape[1] > 800
    assert (abs(a - b).sum(axis=-1) > 0.1).mean() > 0.005  # the curves differ, not just a few pixels

    both = runner.invoke(
        app, ["report", str(rising), str(falling), "--out", str(tmp_path / "both.png"), "--smooth", "0.6"]
    )
    assert both.exit_code == 0, both.output
    text = " ".join(both.output.split())
    assert "held-out greedy accuracy" in text and "cuma" in text and "ttrl" in text and "0.600" in text


def test_report_needs_metrics(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "no metrics.jsonl" in result.output
    assert not (tmp_path / "x.png").exists()
