"""The ``unsloth`` backend's wiring, on CPU, with a fake ``unsloth`` module (the real one needs a CUDA GPU + vLLM).

The fake is imported through a meta-path finder, so the tests see *when* ``import unsloth`` happens (and what
``UNSLOTH_VLLM_STANDBY`` was then). Like the real one (unsloth/models/rl.py ``_patch_trl_rl_trainers_impl``),
its import puts its own trainer class in place of ``trl.GRPOTrainer``, with ``_generate_and_score_completions``
and ``training_step`` wrapped on that class as ``_wrap_grpo_generate_and_score`` / ``_wrap_grpo_ddp_gradient_sync``
do; its ``compute_loss`` records what the loss is handed, which is where Unsloth's own ``compute_loss`` reads the
mask. What this cannot show is Unsloth's real generated class: that was read in the wheel (see
cuma_lite/training/unsloth_backend.py) and is for the device check.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cuma_lite.config import load_config
from cuma_lite.errors import UserError
from cuma_lite.training import backends, unsloth_backend
from cuma_lite.training.unsloth_backend import STANDBY_ENV


class FakeUnsloth(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``import unsloth``; records the Standby variable at import and every FastLanguageModel call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.standby_at_import: list[str | None] = []
        self.from_pretrained: list[dict[str, Any]] = []
        self.get_peft_model: list[dict[str, Any]] = []
        self.log: dict[str, list[Any]] = {"generated": [], "loss": [], "steps": []}
        self.trainer_cls: type | None = None

    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "unsloth" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        import trl

        self.standby_at_import.append(os.environ.get(STANDBY_ENV))
        fake = self

        class FastLanguageModel:
            @staticmethod
            def from_pretrained(**kwargs):
                from transformers import AutoModelForCausalLM, AutoTokenizer

                fake.from_pretrained.append(kwargs)
                name = kwargs["model_name"]
                return AutoModelForCausalLM.from_pretrained(name), AutoTokenizer.from_pretrained(name)

            @staticmethod
            def get_peft_model(model, **kwargs):
                from peft import LoraConfig, get_peft_model

                fake.get_peft_model.append(kwargs)
                config = LoraConfig(
                    r=kwargs["r"],
                    lora_alpha=kwargs["lora_alpha"],
                    lora_dropout=kwargs["lora_dropout"],
                    target_modules=kwargs["target_modules"],
                    task_type="CAUSAL_LM",
                )
                return get_peft_model(model, config)

        module.FastLanguageModel = FastLanguageModel
        self.trainer_cls = self._patched_trainer(trl.GRPOTrainer)
        self.monkeypatch.setattr(trl, "GRPOTrainer", self.trainer_cls)

    def _patched_trainer(self, trl_cls: type) -> type:
        log = self.log

        class _UnslothGRPOTrainer(trl_cls):  # type: ignore[misc, valid-type]
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                rows = inputs["completion_mask"].sum(1).tolist()
                log["loss"].append((rows, float(inputs["num_items_in_batch"])))
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

        class UnslothGRPOTrainer(_UnslothGRPOTrainer):
            pass

        generate = UnslothGRPOTrainer._generate_and_score_completions
        step = UnslothGRPOTrainer.training_step

        def wrapped_generate(self, *args, **kwargs):
            out = generate(self, *args, **kwargs)
            log["generated"].append(out["completion_mask"].sum(1).tolist())
            return out

        def wrapped_step(self, model, *args, **kwargs):
            log["steps"].append(self.state.global_step)
            return step(self, model, *args, **kwargs)

        UnslothGRPOTrainer._generate_and_score_completions = wrapped_generate
        UnslothGRPOTrainer.training_step = wrapped_step
        return UnslothGRPOTrainer


@pytest.fixture
def fake_unsloth(monkeypatch):
    if "unsloth" in sys.modules:
        pytest.skip("a real unsloth is imported in this process")
    fake = FakeUnsloth(monkeypatch)
    monkeypatch.setattr(sys, "meta_path", [fake, *sys.meta_path])
    monkeypatch.setenv(
        STANDBY_ENV, "0"
    )  # so that monkeypatch restores the variable, whatever the backend sets
    monkeypatch.setattr(unsloth_backend, "require_cuda", lambda: None)
    yield fake
    sys.modules.pop("unsloth", None)


def unsloth_config(*extra: str):
    return load_config(
        "tiny-cpu",
        [
            "model.backend=unsloth",
            "lora.r=16",
            "lora.alpha=32",
            "model.load_in_4bit=true",
            "model.gpu_memory_utilization=0.7",
            "model.max_seq_length=512",
            "train.gradient_checkpointing=true",
            "train.seed=5",
            *extra,
        ],
    )


def test_load_passes_the_settings_to_fastlanguagemodel(fake_unsloth):
    cfg = unsloth_config()
    _model, tokenizer = backends.load_policy(cfg)
    (kw,) = fake_unsloth.from_pretrained
    assert kw["model_name"] == backends.resolve_model_path("embedded:tiny-math")
    assert {k: v for k, v in kw.items() if k != "model_name"} == dict(
        max_seq_length=512,
        dtype=None,
        load_in_4bit=True,
        fast_inference=True,
        gpu_memory_utilization=0.7,
        max_lora_rank=16,
    )
    (peft,) = fake_unsloth.get_peft_model
    assert peft == dict(
        r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=cfg.lora.target_modules,
        use_gradient_checkpointing="unsloth",
        random_state=5,
    )
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert fake_unsloth.standby_at_import == ["1"]  # set before the import, not after


def test_gradient_checkpointing_and_dtype_follow_the_config(fake_unsloth):
    backends.load_policy(unsloth_config("train.gradient_checkpointing=false", "model.dtype=bfloat16"))
    import torch

    assert fake_unsloth.get_peft_model[0]["use_gradient_checkpointing"] is False
    assert fake_unsloth.from_pretrained[0]["dtype"] is torch.bfloat16


@pytest.mark.parametrize("extra", ["model.vllm_standby=false", "model.fast_inference=false"])
def test_no_standby_without_the_shared_engine_or_when_off(fake_unsloth, extra):
    backends.load_policy(unsloth_config(extra))
    assert fake_unsloth.standby_at_import == ["0"]


def test_standby_after_unsloth_was_imported_is_refused(fake_unsloth):
    import unsloth  # noqa: F401  (imported without the variable)

    with pytest.raises(UserError, match="before anything imports unsloth"):
        backends.load_policy(unsloth_config())


@pytest.mark.parametrize("var", sorted(unsloth_backend.UNSAFE_ENV))
def test_settings_that_bypass_the_mask_are_refused(fake_unsloth, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    with pytest.raises(UserError, match=var):
        backends.load_policy(unsloth_config())
    assert fake_unsloth.standby_at_import == []  # refused before importing anything


def test_no_cuda_is_a_clear_error_before_importing_unsloth(monkeypatch):
    import torch

    if "unsloth" in sys.modules:
        pytest.skip("a real unsloth is imported in this process")
    fake = FakeUnsloth(monkeypatch)
    monkeypatch.setattr(sys, "meta_path", [fake, *sys.meta_path])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU.*model.backend=hf"):
        backends.load_policy(unsloth_config())
    assert fake.standby_at_import == [] and "unsloth" not in sys.modules


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="unsloth is installed here")
def test_missing_unsloth_names_what_to_install(monkeypatch):
    monkeypatch.setattr(unsloth_backend, "require_cuda", lambda: None)
    monkeypatch.setenv(STANDBY_ENV, "0")
    with pytest.raises(UserError, match=r"pip install 'cuma-lite\[gpu\]'"):
        backends.load_policy(unsloth_config())


def test_grpo_overrides_are_real_grpoconfig_arguments(tmp_path):
    from trl import GRPOConfig

    cfg = unsloth_config()
    overrides = backends.grpo_overrides(cfg)
    assert overrides == {"use_vllm": True, "vllm_mode": "colocate"}
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **overrides)
    assert args.use_vllm and args.vllm_mode == "colocate"
    assert backends.grpo_overrides(unsloth_config("model.fast_inference=false")) == {}
    assert backends.grpo_overrides(load_config("tiny-cpu")) == {}


def test_trainer_base_is_the_class_unsloth_put_in_place(fake_unsloth):
    import trl

    from cuma_lite.training.grpo import cuma_trainer_class

    original = trl.GRPOTrainer
    assert backends.trainer_base(load_config("tiny-cpu")) is original
    base = backends.trainer_base(unsloth_config())
    assert base is fake_unsloth.trainer_cls is trl.GRPOTrainer and base is not original
    cls = cuma_trainer_class(base)
    for name in (
        "_generate_and_score_completions",
        "_get_train_sampler",
        "training_step",
        "_save_checkpoint",
    ):
        assert getattr(cls, name) is cls.__dict__[name], name  # ours, ahead of Unsloth's wrappers in the MRO


def test_save_adapter_uses_save_lora_for_unsloth(tmp_path):
    class Model:
        def __init__(self) -> None:
            self.saved: list[str] = []

        def save_lora(self, directory):
            self.saved.append(directory)

    model = Model()
    backends.save_adapter(unsloth_config(), model, tmp_path / "adapter")
    assert model.saved == [str(tmp_path / "adapter")]


@pytest.mark.slow
def test_a_run_through_the_patched_trainer_keeps_the_mask(fake_unsloth, tmp_path, monkeypatch):
    """run_training on the unsloth backend: CuMa's mask reaches the loss below Unsloth's wrappers, and the
    adapter is written in peft format."""
    from cuma_lite import rewards
    from cuma_lite.training import run_training

    # per step: groups 0 and 2 agree (kept), 1 and 3 split 2-1-1 (no majority at min_share 0.5: masked)
    step = [["1"] * 4, ["1", "1", "2", "3"], ["2"] * 4, ["4", "4", "5", "6"]]
    flat = itertools.chain.from_iterable(itertools.chain.from_iterable([step, step]))
    monkeypatch.setattr(rewards, "extract_answer", lambda text: next(flat))
    out = tmp_path / "run"
    cfg = unsloth_config(
        "model.fast_inference=false",  # TRL's use_vllm path needs vLLM itself; generation via model.generate
        "model.load_in_4bit=false",
        "lora.r=8",
        "lora.alpha=16",
        "vote.min_share=0.5",
        "curriculum.mode=off",
        "rollout.num_generations=4",
        "rollout.max_new_tokens=8",
        "train.prompts_per_step=4",
        "train.max_steps=2",
        "train.save_steps=100",
        "train.gradient_checkpointing=false",
        "data.synth_per_level=8",
        "data.synth_levels=1-2",
        "eval.per_level=0",
        f"train.output_dir={out}",
    )
    run_training(cfg)

    assert fake_unsloth.log["steps"] == [0, 1]  # Unsloth's training_step wrapper ran under ours
    for generated, (loss_rows, num_items) in zip(
        fake_unsloth.log["generated"], fake_unsloth.log["loss"], strict=True
    ):
        assert all(n > 0 for n in generated)  # what Unsloth's generate returned: nothing masked yet
        assert sorted(n == 0 for n in loss_rows) == [False] * 8 + [True] * 8  # 2 groups of 4 masked
        assert num_items == sum(loss_rows)  # the normaliser counts unmasked tokens only
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["mask_rate"] for r in rows if "mask_rate" in r] == [0.5, 0.5]
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["r"] == 8
    assert (out / "adapter" / "adapter_model.safetensors").exists()


def test_cuma_lite_and_the_hf_backend_never_import_unsloth_or_vllm():
    code = (
        "import sys\n"
        "import cuma_lite, cuma_lite.rollout, cuma_lite.training.backends as b\n"
        "from cuma_lite.config import load_config\n"
        "cfg = load_config('tiny-cpu')\n"
        "model, tok = b.load_policy(cfg)\n"
        "b.trainer_base(cfg); b.grpo_overrides(cfg)\n"
        "print(type(model).__name__)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'unsloth', 'unsloth_zoo', 'vllm'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "Qwen2ForCausalLM"  # the hf load really ran
    assert lines[-1] == "[]"
