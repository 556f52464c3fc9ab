"""On a CUDA GPU: the ``hf`` backend trains in bf16 (LoRA, and 4-bit QLoRA) with the mask intact. Skipped without
CUDA (tests/conftest.py); ``scripts/device_check.py`` measures speed and memory on a borrowed GPU."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("four_bit", [False, True])
def test_a_lora_run_trains_on_the_gpu(tmp_path, four_bit):
    if four_bit:
        pytest.importorskip("bitsandbytes")
    from safetensors.torch import load_file

    from cuma_lite.config import load_config
    from cuma_lite.training.run import train

    out = tmp_path / "run"
    cfg = load_config(
        "tiny-cpu",
        [f"train.output_dir={out}", "lora.r=8", "lora.alpha=16", f"model.load_in_4bit={str(four_bit).lower()}",
         "rollout.num_generations=4", "rollout.max_new_tokens=24", "train.prompts_per_step=4", "train.max_steps=2",
         "train.save_steps=100", "train.learning_rate=1e-3", "vote.min_share=0.5", "curriculum.mode=off",
         "data.synth_per_level=8", "eval.per_level=2"],
    )  # fmt: skip
    summary = train(cfg)
    assert summary["steps"] == 2
    adapter = load_file(out / "adapter" / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= s["mask_rate"] <= 1.0 for s in steps if "mask_rate" in s)
