"""Rollout generation behind one small contract: prompts + sampling settings (+ a LoRA adapter) -> completions.

Three implementations honour :class:`~cuma_lite.rollout.contract.Generator`:

- :class:`~cuma_lite.rollout.fake.FakeGenerator`: deterministic, no model; for tests of code that consumes
  completions (votes, masks, logging) and for the contract tests themselves.
- :class:`~cuma_lite.rollout.hf.HFGenerator`: ``model.generate`` of a transformers / peft model (CPU or GPU).
- :class:`~cuma_lite.rollout.vllm.VLLMGenerator`: a vLLM ``LLM`` (or Unsloth's shared ``model.vllm_engine``). The
  only module here that touches vLLM, kept thin; it imports vLLM only when built without injected classes.

Importing this package imports neither torch nor vLLM.
"""

from cuma_lite.rollout.contract import (
    Completion,
    Generator,
    LoraHandle,
    SamplingSpec,
    check_completions,
)
from cuma_lite.rollout.fake import FakeGenerator

__all__ = ["Completion", "FakeGenerator", "Generator", "LoraHandle", "SamplingSpec", "check_completions"]
