"""scripts/device_check.py: its architectures are Qwen2.5's, and its CPU smoke run measures what it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_check.py"


@pytest.mark.slow  # ~35 s each: building the modules, even on the meta device
@pytest.mark.parametrize(
    ("arch", "params"),
    [("qwen2.5-0.5b", 494_032_768), ("qwen2.5-1.5b", 1_543_714_304)],  # the model cards' 0.49B and 1.54B
)
def test_architectures_have_qwen25_parameter_counts(arch, params, tmp_path, monkeypatch, script):
    import torch
    from transformers import Qwen2ForCausalLM

    dc = script("device_check")
    captured = {}
    monkeypatch.setattr(
        Qwen2ForCausalLM, "save_pretrained", lambda self, path: captured.setdefault("m", self)
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with torch.device("meta"):  # no memory: only the shapes matter
        dc.build_model_dir(arch, tmp_path, torch.bfloat16)
    model = captured["m"]
    assert sum(p.numel() for p in model.parameters()) == params
    assert model.config.tie_word_embeddings


@pytest.mark.slow
def test_cpu_smoke_runs_and_reports(tmp_path):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())
    assert (row["arch"], row["mode"], row["steps"]) == ("tiny", "bf16-lora", 2)
    assert row["step_time_s"] > 0 and row["rollout_tokens_per_s"] > 0
    assert row["peak_vram_gib"] is None  # no GPU: no VRAM figure rather than a made-up one
    assert "tiny" in proc.stdout and "step time" in proc.stdout
