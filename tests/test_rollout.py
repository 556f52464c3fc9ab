"""The rollout contract (cuma_lite.rollout): one set of tests over every implementation that runs here.

``fake`` is the FakeGenerator; ``hf`` is HFGenerator over a tiny random Qwen2; ``vllm`` is VLLMGenerator over the
stand-ins of ``tests/vllm_fakes.py`` (vLLM cannot be installed on a CPU machine), which keep vLLM's own argument
checks, each with its source line.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import pytest
from vllm_fakes import FakeLLM, LoRARequest, SamplingParams, VLLMValidationError

from cuma_lite.errors import UserError
from cuma_lite.rollout import Completion, FakeGenerator, LoraHandle, SamplingSpec, check_completions
from cuma_lite.rollout.contract import Generator
from cuma_lite.rollout.vllm import VLLMGenerator

# Equal length (byte tokenizer: equal token counts), so the HF batch needs no padding and greedy order tests
# compare like with like.
PROMPTS = ["Q: 12+7=\nA: ", "Q: 30-4=\nA: ", "Q: 5*6= \nA: "]


def _vllm_generator(llm: Any = None, **kwargs: Any) -> VLLMGenerator:
    return VLLMGenerator(
        llm or FakeLLM(), sampling_params_cls=SamplingParams, lora_request_cls=LoRARequest, **kwargs
    )


# ------------------------------------------------------------------------------------------ contract tests


@pytest.fixture(params=["fake", "hf", "vllm"])
def generator(request, tiny_policy) -> Generator:
    if request.param == "fake":
        return FakeGenerator()
    if request.param == "vllm":
        return _vllm_generator()
    from cuma_lite.rollout.hf import HFGenerator

    model, tokenizer = tiny_policy
    return HFGenerator(model, tokenizer)


def test_is_a_generator(generator):
    assert isinstance(generator, Generator)


@pytest.mark.parametrize("logprobs", [False, True])
def test_shapes_n_budget_and_logprobs(generator, logprobs):
    spec = SamplingSpec(n=4, max_new_tokens=12, seed=3, logprobs=logprobs)
    out = generator.generate(PROMPTS, spec)
    check_completions(PROMPTS, spec, out)
    assert [len(g) for g in out] == [4, 4, 4]
    assert all((c.logprobs is not None) == logprobs for g in out for c in g)


def test_greedy_gives_n_identical_completions_whatever_the_seed(generator):
    a = generator.generate(PROMPTS, SamplingSpec(n=3, max_new_tokens=10, temperature=0.0, seed=1))
    b = generator.generate(PROMPTS, SamplingSpec(n=3, max_new_tokens=10, temperature=0.0, seed=2))
    assert a == b
    assert all(g[0] == g[1] == g[2] for g in a)


def test_order_follows_the_prompts(generator):
    spec = SamplingSpec(n=1, max_new_tokens=10, temperature=0.0)
    forward = generator.generate(PROMPTS, spec)
    backward = generator.generate(PROMPTS[::-1], spec)
    assert backward == forward[::-1]


def test_same_seed_same_completions_other_seed_others(generator):
    spec = SamplingSpec(n=4, max_new_tokens=16, seed=7, logprobs=True)
    first = generator.generate(PROMPTS, spec)
    assert generator.generate(PROMPTS, spec) == first
    other = generator.generate(PROMPTS, SamplingSpec(n=4, max_new_tokens=16, seed=8, logprobs=True))
    assert other != first


def test_check_completions_catches_broken_output():
    spec = SamplingSpec(n=2, max_new_tokens=3, logprobs=True)
    ok = Completion("ab", (97, 98), (-0.1, -0.2), "length")
    check_completions(["p"], spec, [[ok, ok]])
    bad = [
        [[ok]],  # n
        [[ok, ok], [ok, ok]],  # one list per prompt
        [[ok, Completion("abcd", (97, 98, 99, 100), (-0.1,) * 4, "length")]],  # budget
        [[ok, Completion("ab", (97, 98), None, "stop")]],  # logprobs missing
        [[ok, Completion("ab", (97, 98), (-0.1, 0.3), "stop")]],  # a probability above 1
        [[ok, Completion("ab", (97, 98), (-0.1, math.nan), "stop")]],
    ]
    for out in bad:
        with pytest.raises(ValueError):
            check_completions(["p"], spec, out)


def test_spec_rejects_bad_settings():
    for kwargs in ({"n": 0}, {"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_k": -1}):
        with pytest.raises(ValueError):
            SamplingSpec(**{"n": 2, "max_new_tokens": 4, **kwargs})
    with pytest.raises(ValueError, match="int_id"):
        LoraHandle("a", 0, "/tmp/a")


# ------------------------------------------------------------------------------------------------- fake


def test_fake_scripts_answers_and_cuts_at_the_budget():
    gen = FakeGenerator(respond=lambda p, rng: " 4" if "2+2" in p else " a long answer that will not fit")
    out = gen.generate(["2+2?", "other"], SamplingSpec(n=2, max_new_tokens=6))
    assert [c.text for c in out[0]] == [" 4", " 4"]
    assert out[0][0].token_ids == (32, 52, 256) and out[0][0].finish_reason == "stop"
    assert out[1][0].token_ids == tuple(b" a lon") and out[1][0].finish_reason == "length"
    assert gen.calls[0][0] == ["2+2?", "other"]


def test_fake_completions_depend_on_the_adapter():
    gen = FakeGenerator()
    spec = SamplingSpec(n=8, max_new_tokens=30, seed=0)
    lora = LoraHandle("step-10", 1, "/runs/x/adapter")
    assert gen.generate(PROMPTS, spec, lora) != gen.generate(PROMPTS, spec)


# ---------------------------------------------------------------------------------------------------- HF


def test_hf_logprobs_are_the_models_own(tiny_policy):
    """Sampled at temperature 1 without truncation, each logprob is log_softmax of a teacher-forced forward."""
    import torch

    from cuma_lite.rollout.hf import HFGenerator

    model, tokenizer = tiny_policy
    out = HFGenerator(model, tokenizer).generate(
        PROMPTS[:1], SamplingSpec(n=2, max_new_tokens=8, seed=0, logprobs=True)
    )
    prompt_ids = tokenizer(PROMPTS[0]).input_ids
    for c in out[0]:
        ids = torch.tensor([prompt_ids + list(c.token_ids)])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, len(prompt_ids) - 1 : -1].float(), dim=-1)
        expected = logp.gather(1, torch.tensor(c.token_ids).unsqueeze(1)).squeeze(1)
        assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_hf_gives_the_model_back_in_its_mode(tiny_policy):
    from cuma_lite.rollout.hf import HFGenerator

    model, tokenizer = tiny_policy
    model.train()
    HFGenerator(model, tokenizer).generate(PROMPTS[:1], SamplingSpec(n=2, max_new_tokens=4))
    assert model.training


@pytest.fixture
def saved_adapter(tmp_path):
    """A tiny base model and a LoRA adapter with non-zero B (so it changes the outputs), saved in peft format."""
    from peft import LoraConfig, get_peft_model

    from cuma_lite.models.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer()

    def base():
        return build_model(len(tokenizer), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, seed=0)

    peft_model = get_peft_model(
        base(), LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    return base, tokenizer, peft_model, LoraHandle("saved", 1, str(tmp_path / "adapter"), rank=8)


def test_hf_lora_on_a_plain_model(saved_adapter):
    from cuma_lite.rollout.hf import HFGenerator

    base, tokenizer, peft_model, handle = saved_adapter
    spec = SamplingSpec(n=1, max_new_tokens=12, temperature=0.0)
    with_adapter = HFGenerator(peft_model, tokenizer).generate(PROMPTS, spec)
    plain = base()
    base_only = HFGenerator(plain, tokenizer).generate(PROMPTS, spec)
    assert with_adapter != base_only  # the adapter matters, so the checks below can fail

    gen = HFGenerator(plain, tokenizer)
    assert gen.generate(PROMPTS, spec, handle) == with_adapter
    assert gen.generate(PROMPTS, spec) == base_only  # the adapter is off again
    assert gen.generate(PROMPTS, spec, handle) == with_adapter  # and loads once, on again


def test_hf_lora_on_a_peft_model_restores_the_active_adapter(saved_adapter):
    from peft import LoraConfig, get_peft_model

    from cuma_lite.rollout.hf import HFGenerator

    base, tokenizer, peft_model, handle = saved_adapter
    spec = SamplingSpec(n=1, max_new_tokens=12, temperature=0.0)
    expected = HFGenerator(peft_model, tokenizer).generate(PROMPTS, spec)
    training = get_peft_model(base(), LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))  # B = 0: the base
    gen = HFGenerator(training, tokenizer)
    own = gen.generate(PROMPTS, spec)
    assert gen.generate(PROMPTS, spec, handle) == expected != own
    assert training.active_adapter == "default"
    assert gen.generate(PROMPTS, spec) == own


# -------------------------------------------------------------------------------------------------- vLLM


def test_vllm_builds_sampling_params_as_vllm_names_them():
    llm = FakeLLM()
    gen = _vllm_generator(llm)
    gen.generate(PROMPTS, SamplingSpec(n=8, max_new_tokens=64, temperature=0.7, top_p=0.9, top_k=20, seed=5))
    gen.generate(PROMPTS, SamplingSpec(n=2, max_new_tokens=4, logprobs=True))
    assert llm.calls[0]["params"] == dict(
        n=8, temperature=0.7, top_p=0.9, top_k=20, seed=5, max_tokens=64, logprobs=None
    )
    assert llm.calls[1]["params"]["logprobs"] == 0  # the sampled token's log-prob only
    assert llm.calls[0]["prompts"] == PROMPTS and llm.calls[0]["use_tqdm"] is False
    assert llm.calls[0]["lora_request"] is None


def test_vllm_maps_outputs_in_index_order_with_the_sampled_tokens_logprob():
    spec = SamplingSpec(n=4, max_new_tokens=20, seed=1, logprobs=True)
    expected = FakeGenerator().generate(PROMPTS, spec)
    assert _vllm_generator().generate(PROMPTS, spec) == expected  # not the rank-1 token's -0.01, not shuffled


def test_vllm_lora_request_and_rank_checks():
    llm = FakeLLM()
    gen = _vllm_generator(llm, max_lora_rank=32)
    gen.generate(
        PROMPTS, SamplingSpec(n=1, max_new_tokens=4), LoraHandle("step-5", 3, "/runs/a/adapter", rank=16)
    )
    assert llm.calls[0]["lora_request"] == LoRARequest("step-5", 3, "/runs/a/adapter")
    with pytest.raises(UserError, match="ranks"):
        gen.generate(PROMPTS, SamplingSpec(n=1, max_new_tokens=4), LoraHandle("x", 1, "/a", rank=24))
    with pytest.raises(UserError, match="max_lora_rank=32"):
        gen.generate(PROMPTS, SamplingSpec(n=1, max_new_tokens=4), LoraHandle("x", 1, "/a", rank=64))
    assert len(llm.calls) == 1  # nothing reached the engine


def test_vllm_from_unsloth_uses_the_shared_engine_and_load_lora():
    class UnslothModel:
        def __init__(self) -> None:
            self.vllm_engine = FakeLLM()
            self.loaded: list[tuple[str, int]] = []

        def load_lora(self, save_directory, load_tensors=False, lora_request_id=None):
            self.loaded.append((save_directory, lora_request_id))
            return LoRARequest(str(lora_request_id), lora_request_id, save_directory)

    model = UnslothModel()
    gen = VLLMGenerator.from_unsloth(model, sampling_params_cls=SamplingParams)
    gen.generate(PROMPTS, SamplingSpec(n=2, max_new_tokens=4), LoraHandle("a", 2, "/runs/a/adapter"))
    assert model.loaded == [("/runs/a/adapter", 2)]
    assert model.vllm_engine.calls[0]["lora_request"] == LoRARequest("2", 2, "/runs/a/adapter")
    with pytest.raises(UserError, match="fast_inference"):
        VLLMGenerator.from_unsloth(object(), sampling_params_cls=SamplingParams)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_missing_says_what_to_install():
    with pytest.raises(UserError, match=r"cuma-lite\[gpu\]"):
        VLLMGenerator(FakeLLM())


def test_vllm_greedy_asks_for_one_completion_and_repeats_it():
    """vLLM refuses greedy sampling with n > 1 (vllm/sampling_params.py:549-554, 703-707): the fake refuses it too,
    and the generator asks for n=1 and gives the contract's n identical completions."""
    with pytest.raises(VLLMValidationError, match="n must be 1 when using greedy sampling"):
        SamplingParams(n=4, temperature=0.0, top_p=1.0, top_k=0, seed=None, max_tokens=8, logprobs=None)
    llm = FakeLLM()
    out = _vllm_generator(llm).generate(PROMPTS, SamplingSpec(n=4, max_new_tokens=8, temperature=0.0))
    assert llm.calls[0]["params"]["n"] == 1
    assert all(len(group) == 4 and len(set(group)) == 1 for group in out)


def test_vllm_renders_chat_prompts_with_the_engines_template():
    llm = FakeLLM()
    _vllm_generator(llm).generate(
        [[{"role": "user", "content": "2+2?"}]], SamplingSpec(n=1, max_new_tokens=4)
    )
    assert llm.calls[0]["prompts"] == ["user: 2+2?\nassistant: "]
