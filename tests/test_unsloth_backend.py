"""The ``unsloth`` backend's wiring, on CPU, with a fake ``unsloth`` module (the real one needs a CUDA GPU + vLLM).

The fake is imported through a meta-path finder, so the tests see *when* ``import unsloth`` happens (and what
``UNSLOTH_VLLM_STANDBY`` was then). Like the real one (unsloth/models/rl.py ``_patch_trl_rl_trainers_impl``),
its import puts its own trainer class in place of ``trl.GRPOTrainer``, with ``_generate_and_score_completions``
and ``training_step`` wrapped on that class as ``_wrap_grpo_generate_and_score`` / ``_wrap_grpo_ddp_gradient_sync``
do; its ``compute_loss`` records what the loss is handed, which is where Unsloth's own ``compute_loss`` reads the
mask. What this cannot show is Unsloth's real generated class: that was read in the wheel (see
docs/gpu-path.md) and is for the device check.
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

from cuma_lite.backends import get_backend
from cuma_lite.backends import unsloth as unsloth_backend
from cuma_lite.backends.unsloth import STANDBY_ENV
from cuma_lite.config import load_config
from cuma_lite.errors import UserError
from cuma_lite.models.source import resolve_model_path


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
    _model, tokenizer = get_backend(cfg).load_policy()
    (kw,) = fake_unsloth.from_pretrained
    assert kw["model_name"] == resolve_model_path(cfg.model.name)
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
    get_backend(unsloth_config("train.gradient_checkpointing=false", "model.dtype=bfloat16")).load_policy()
    import torch

    assert fake_unsloth.get_peft_model[0]["use_gradient_checkpointing"] is False
    assert fake_unsloth.from_pretrained[0]["dtype"] is torch.bfloat16


@pytest.mark.parametrize("extra", ["model.vllm_standby=false", "model.fast_inference=false"])
def test_no_standby_without_the_shared_engine_or_when_off(fake_unsloth, extra):
    get_backend(unsloth_config(extra)).load_policy()
    assert fake_unsloth.standby_at_import == ["0"]


def test_standby_after_unsloth_was_imported_is_refused(fake_unsloth):
    import unsloth  # noqa: F401  (imported without the variable)

    with pytest.raises(UserError, match="before anything imports unsloth"):
        get_backend(unsloth_config()).load_policy()


@pytest.mark.parametrize("var", sorted(unsloth_backend.UNSAFE_ENV))
def test_settings_that_bypass_the_mask_are_refused(fake_unsloth, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    with pytest.raises(UserError, match=var):
        get_backend(unsloth_config()).load_policy()
    assert fake_unsloth.standby_at_import == []  # refused before importing anything


def test_no_cuda_is_a_clear_error_before_importing_unsloth(monkeypatch):
    import torch

    if "unsloth" in sys.modules:
        pytest.skip("a real unsloth is imported in this process")
    fake = FakeUnsloth(monkeypatch)
    monkeypatch.setattr(sys, "meta_path", [fake, *sys.meta_path])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU.*model.backend=hf"):
        get_backend(unsloth_config()).load_policy()
    assert fake.standby_at_import == [] and "unsloth" not in sys.modules


def test_missing_unsloth_names_what_to_install(monkeypatch):
    class NoUnsloth(importlib.abc.MetaPathFinder):  # as if it were not installed (CI installs it for a test)
        def find_spec(self, name, path, target=None):
            if name == "unsloth":
                raise ModuleNotFoundError("No module named 'unsloth'")
            return None

    if "unsloth" in sys.modules:
        pytest.skip("a real unsloth is imported in this process")
    monkeypatch.setattr(sys, "meta_path", [NoUnsloth(), *sys.meta_path])
    monkeypatch.setattr(unsloth_backend, "require_cuda", lambda: None)
    monkeypatch.setenv(STANDBY_ENV, "0")
    with pytest.raises(UserError, match=r"pip install 'cuma-lite\[gpu\]'"):
        get_backend(unsloth_config()).load_policy()


def test_grpo_overrides_are_real_grpoconfig_arguments(tmp_path):
    from trl import GRPOConfig

    cfg = unsloth_config()
    overrides = get_backend(cfg).grpo_overrides()
    assert overrides == {"use_vllm": True, "vllm_mode": "colocate"}
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **overrides)
    assert args.use_vllm and args.vllm_mode == "colocate"
    assert get_backend(unsloth_config("model.fast_inference=false")).grpo_overrides() == {}
    assert get_backend(load_config("tiny-cpu")).grpo_overrides() == {}


def test_trainer_base_is_the_class_unsloth_put_in_place(fake_unsloth):
    import trl

    from cuma_lite.training.trainer import cuma_trainer_class

    original = trl.GRPOTrainer
    assert get_backend(load_config("tiny-cpu")).trainer_base() is original
    base = get_backend(unsloth_config()).trainer_base()
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
    get_backend(unsloth_config()).save_adapter(model, tmp_path / "adapter")
    assert model.saved == [str(tmp_path / "adapter")]


@pytest.mark.slow
def test_a_run_through_the_patched_trainer_keeps_the_mask(fake_unsloth, tmp_path, monkeypatch):
    """train(cfg) on the unsloth backend: CuMa's mask reaches the loss below Unsloth's wrappers, and the
    adapter is written in peft format."""
    from cuma_lite import rewards
    from cuma_lite.training.run import train

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
    train(cfg)

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
        "import cuma_lite, cuma_lite.rollout\n"
        "from cuma_lite.backends import get_backend\n"
        "from cuma_lite.config import load_config\n"
        "b = get_backend(load_config('tiny-cpu'))\n"
        "b.activate(); model, tok = b.load_policy()\n"
        "b.trainer_base(); b.grpo_overrides()\n"
        "print(type(model).__name__)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'unsloth', 'unsloth_zoo', 'vllm'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "Qwen2ForCausalLM"  # the hf load really ran
    assert lines[-1] == "[]"


def test_evaluation_generates_through_the_shared_engine_with_the_live_adapter(monkeypatch):
    """unsloth backend, fast_inference: held-out evaluation uses the vLLM engine that shares the weights (not HF
    generate beside it), with the adapter's live tensors, and puts the engine back to sleep afterwards."""
    import types

    import vllm_fakes

    from cuma_lite.backends.unsloth import SharedEngineGenerator
    from cuma_lite.evaluation import greedy_accuracy

    fake_vllm = types.ModuleType("vllm")  # vLLM has no CPU build: its two classes, with vLLM's checks
    fake_vllm.SamplingParams = vllm_fakes.SamplingParams
    fake_request = types.ModuleType("vllm.lora.request")
    fake_request.LoRARequest = vllm_fakes.LoRARequest
    for name, module in (("vllm", fake_vllm), ("vllm.lora", types.ModuleType("vllm.lora")),
                         ("vllm.lora.request", fake_request)):  # fmt: skip
        monkeypatch.setitem(sys.modules, name, module)

    class UnslothModel:
        def __init__(self) -> None:
            self.vllm_engine = vllm_fakes.FakeLLM()
            self.loaded: list[tuple[str, bool]] = []

        def load_lora(self, save_directory, load_tensors=False, lora_request_id=None):
            self.loaded.append((save_directory, load_tensors))
            return vllm_fakes.LoRARequest("live", len(self.loaded), save_directory)

    model = UnslothModel()
    backend = get_backend(unsloth_config())
    generator = backend.generator(model, tokenizer=None)
    assert isinstance(generator, SharedEngineGenerator)
    items = [{"problem": "Compute 1+1.", "answer": "2"}, {"problem": "Compute 2+2.", "answer": "4"}]
    result = greedy_accuracy(generator, items, max_new_tokens=8)
    assert result["n"] == 2
    (call,) = model.vllm_engine.calls
    assert call["params"]["n"] == 1 and call["params"]["temperature"] == 0.0  # greedy, as vLLM accepts it
    assert model.loaded == [("cuma-live-adapter", True)] and call["lora_request"].lora_name == "live"
    assert model.vllm_engine.sleeps == [2]
    assert not isinstance(backend.generator(object(), tokenizer=None), SharedEngineGenerator)


def test_gpu_memory_utilization_takes_effect(fake_unsloth, monkeypatch):
    """With Standby, Unsloth replaces the configured utilisation by a tier of the card unless the override flag is
    set (unsloth_zoo/vllm_utils.py:4443, 4487-4497): the backend sets it before importing unsloth."""
    from cuma_lite.backends.unsloth import UTIL_OVERRIDE_ENV

    monkeypatch.delenv(UTIL_OVERRIDE_ENV, raising=False)
    get_backend(unsloth_config()).load_policy()
    assert os.environ[UTIL_OVERRIDE_ENV] == "1"
    assert fake_unsloth.from_pretrained[0]["gpu_memory_utilization"] == 0.7


def test_one_recipe_on_both_backends(tmp_path):
    """The GRPO arguments of a config differ between the backends only in the rollout engine: every training
    choice Unsloth's config would change (optimiser, weight decay, clipping, truncation) is passed explicitly, and
    so is the entropy bonus."""
    from cuma_lite.training.run import grpo_arguments

    extra = ("lora.r=16", "train.optim=adamw_8bit", "train.weight_decay=0.01", "train.epsilon_high=0.28",
             "train.entropy_coef=0.01", "train.lr_scheduler=cosine")  # fmt: skip
    hf = load_config("tiny-cpu", ["model.backend=hf", *extra])
    gpu = load_config("tiny-cpu", ["model.backend=unsloth", *extra])
    a = grpo_arguments(hf, get_backend(hf), per_device=8, reward_weights=[1.0])
    b = grpo_arguments(gpu, get_backend(gpu), per_device=8, reward_weights=[1.0])
    assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} == {"use_vllm", "vllm_mode"}
    recipe = {
        k: a[k]
        for k in (
            "optim",
            "weight_decay",
            "epsilon",
            "epsilon_high",
            "entropy_coef",
            "mask_truncated_completions",
            "lr_scheduler_type",
            "warmup_steps",
        )
    }
    assert recipe == dict(
        optim="adamw_8bit",
        weight_decay=0.01,
        epsilon=0.2,
        epsilon_high=0.28,
        entropy_coef=0.01,
        mask_truncated_completions=False,
        lr_scheduler_type="cosine",
        warmup_steps=0.0,  # Unsloth's config would warm up over 0.1 of the run (rl.py:3337-3340)
    )
    from cuma_lite.config import dump_config

    written = dump_config(gpu)  # what config.yaml records
    for key in (
        "optim: adamw_8bit",
        "weight_decay: 0.01",
        "epsilon_high: 0.28",
        "mask_truncated_completions: false",
    ):
        assert key in written


def test_unsloth_is_imported_before_transformers_trl_and_peft(tmp_path):
    """A real `cuma-lite train` on the unsloth backend, in a subprocess, with a fake unsloth that records what was
    already imported when it was (Unsloth warns that its patches may not apply otherwise: _gpu_init.py:135-142)."""
    fake = tmp_path / "fake" / "unsloth"
    fake.mkdir(parents=True)
    record = tmp_path / "imported.json"
    (fake / "__init__.py").write_text(
        "import json, os, sys\n"
        f"json.dump(sorted(m for m in ('transformers', 'trl', 'peft') if m in sys.modules), open({str(record)!r}, 'w'))\n"
        "raise ImportError('fake unsloth: stop here')\n"
    )
    code = (
        "import sys, torch\n"
        "torch.cuda.is_available = lambda: True\n"
        "from cuma_lite.cli import app\n"
        f"sys.argv = ['cuma-lite', 'train', '--output', {str(tmp_path / 'run')!r}, '--set', 'model.backend=unsloth',"
        " '--set', 'lora.r=16', '--set', 'eval.per_level=0']\n"
        "app()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(fake.parent), "UNSLOTH_VLLM_STANDBY": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "fake unsloth: stop here" in done.stderr + done.stdout
    assert json.loads(record.read_text()) == []
