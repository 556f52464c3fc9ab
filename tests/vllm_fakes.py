"""Stand-ins for vLLM 0.31 (it has no CPU build), enforcing the checks of the real classes that cuma-lite can hit.

Each check cites its source in the vllm 0.31.0 wheel (see docs/gpu-path.md, section 7). Like vLLM, a bad argument
raises ``VLLMValidationError``, which is *not* a ``ValueError`` (``vllm/exceptions.py:28``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from cuma_lite.rollout import Completion, FakeGenerator, LoraHandle, SamplingSpec

SAMPLING_EPS = 1e-5  # vllm/sampling_params.py:27


class VLLMValidationError(Exception):
    """vllm/exceptions.py:28 (VLLMClientError -> VLLMError -> Exception)."""


class SamplingParams:
    """Records its kwargs; refuses what ``vllm/sampling_params.py`` refuses for the fields cuma-lite sets."""

    def __init__(self, **kwargs: Any) -> None:
        allowed = {"n", "temperature", "top_p", "top_k", "seed", "max_tokens", "logprobs"}
        assert set(kwargs) <= allowed, set(kwargs) - allowed
        n, temperature = kwargs.get("n", 1), kwargs.get("temperature", 1.0)
        top_p, top_k = kwargs.get("top_p", 1.0), kwargs.get("top_k", 0)
        max_tokens, logprobs = kwargs.get("max_tokens", 16), kwargs.get("logprobs")
        if not isinstance(n, int) or n < 1:  # _verify_num_sequences, l. 35-48
            raise VLLMValidationError(f"n must be an int >= 1, got {n}")
        if not math.isfinite(temperature) or not 0 <= temperature <= 2:  # _verify_args, l. 590-607
            raise VLLMValidationError(f"temperature must be in [0, 2], got {temperature}")
        if not 0 < top_p <= 1:  # l. 608-613
            raise VLLMValidationError(f"top_p must be in (0, 1], got {top_p}")
        if not isinstance(top_k, int) or top_k < -1:  # l. 614-622
            raise VLLMValidationError(f"top_k must be an int >= -1, got {top_k}")
        if max_tokens is not None and max_tokens < 1:  # l. 625-630
            raise VLLMValidationError(f"max_tokens must be at least 1, got {max_tokens}")
        if logprobs is not None and logprobs < 0 and logprobs != -1:  # l. 646-651
            raise VLLMValidationError(f"logprobs must be non-negative or -1, got {logprobs}")
        if temperature < SAMPLING_EPS and n > 1:  # greedy: l. 549-554, _verify_greedy_sampling l. 703-707
            raise VLLMValidationError(f"n must be 1 when using greedy sampling, got {n}.")
        self.kwargs = kwargs


@dataclass
class LoRARequest:  # vllm/lora/request.py:8-46: the same fields and __post_init__ checks
    lora_name: str
    lora_int_id: int
    lora_path: str = ""

    def __post_init__(self) -> None:
        if self.lora_int_id < 1:
            raise ValueError(f"id must be > 0, got {self.lora_int_id}")
        assert self.lora_path, "lora_path cannot be empty"


@dataclass
class Logprob:  # vllm/logprobs.py: Logprob(logprob, rank, decoded_token)
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:  # vllm/outputs.py:33-69: the fields VLLMGenerator reads
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str
    outputs: list[CompletionOutput]
    finished: bool = True


class _ChatTokenizer:
    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        from cuma_lite.rollout.fake import render_chat

        return render_chat(messages)


@dataclass
class FakeLLM:
    """``generate`` answers like ``vllm.LLM.generate`` (one output per prompt, in order: ``entrypoints/llm.py:
    420-461``) from a FakeGenerator: top-2 logprob dicts, completions in shuffled index order. ``sleep`` and the
    ``llm_engine`` attributes Unsloth and TRL read are there for the shared-engine path."""

    inner: FakeGenerator = field(default_factory=FakeGenerator)
    calls: list[dict[str, Any]] = field(default_factory=list)
    sleeps: list[int] = field(default_factory=list)
    sleep_mode: bool = True

    def get_tokenizer(self) -> _ChatTokenizer:
        return _ChatTokenizer()

    @property
    def llm_engine(self) -> Any:
        class _Model:
            enable_sleep_mode = self.sleep_mode

        class _Config:
            model_config = _Model()

        class _Engine:
            vllm_config = _Config()

        return _Engine()

    def sleep(self, level: int = 1) -> None:  # vllm/entrypoints/llm.py:809
        self.sleeps.append(level)

    def generate(self, prompts, sampling_params, *, use_tqdm=True, lora_request=None):
        kw = sampling_params.kwargs
        self.calls.append(
            {"prompts": prompts, "params": kw, "lora_request": lora_request, "use_tqdm": use_tqdm}
        )
        spec = SamplingSpec(
            n=kw["n"], max_new_tokens=kw["max_tokens"], temperature=kw["temperature"], top_p=kw["top_p"],
            top_k=kw["top_k"], seed=kw["seed"], logprobs=kw["logprobs"] is not None,
        )  # fmt: skip
        lora = None
        if lora_request is not None:
            lora = LoraHandle(lora_request.lora_name, lora_request.lora_int_id, lora_request.lora_path)
        results = []
        for r, (prompt, group) in enumerate(
            zip(prompts, self.inner.generate(prompts, spec, lora), strict=True)
        ):
            outs = [self._output(j, c) for j, c in enumerate(group)]
            random.Random(r).shuffle(outs)
            results.append(RequestOutput(str(r), prompt, outs))
        return results

    @staticmethod
    def _output(index: int, c: Completion) -> CompletionOutput:
        logprobs = None
        if c.logprobs is not None:  # the sampled token plus a more likely one (rank 1), as vLLM can return
            logprobs = [
                {t: Logprob(lp, rank=2), t + 1: Logprob(-0.01, rank=1)}
                for t, lp in zip(c.token_ids, c.logprobs, strict=True)
            ]
        return CompletionOutput(index, c.text, list(c.token_ids), None, logprobs, c.finish_reason)
