"""The generation contract: what a rollout engine is asked for and what it must give back.

``generate(prompts, spec, lora=None) -> list[list[Completion]]``, where a prompt is plain text or a conversation
(rendered with the engine's chat template, :func:`cuma_lite.prompts.render_prompts`):

- one list per prompt, in the prompts' order, each holding exactly ``spec.n`` completions;
- a completion's ``token_ids`` are the *new* tokens only (no prompt), at most ``spec.max_new_tokens`` of them,
  ending with the eos token when the model stopped by itself (``finish_reason="stop"``), cut by a budget
  otherwise (``"length"``: ``max_new_tokens``, or the engine's context length); ``text`` is their decoding
  without special tokens;
- ``logprobs`` is ``None`` unless ``spec.logprobs``; then it holds one value per token id: the log-probability of
  that token under the distribution it was sampled from (after temperature and top-k/top-p; vLLM's
  ``logprobs_mode="processed_logprobs"``, which TRL and Unsloth's training engine use);
- ``temperature=0`` is greedy: the ``n`` completions of a prompt are identical and the seed is irrelevant;
- the same prompts, spec and seed give the same completions (``seed=None``: no such promise);
- ``lora`` names an adapter saved in peft format; the completions come from base + adapter, and the engine is
  left as it was found (the next call without ``lora`` uses what it used before).

:func:`check_completions` checks the shape half of this for any implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from cuma_lite.prompts import Prompt

if TYPE_CHECKING:
    from cuma_lite.config import RolloutConfig

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingSpec:
    """How to sample: the settings every engine understands, with vLLM's meaning (``top_k=0`` disables it)."""

    n: int
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    logprobs: bool = False

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingSpec.n={self.n}: ask for at least one completion per prompt.")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingSpec.max_new_tokens={self.max_new_tokens} must be >= 1.")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"SamplingSpec.temperature={self.temperature} must be in [0, 2] (0 = greedy).")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"SamplingSpec.top_p={self.top_p} must be in (0, 1].")
        if self.top_k < 0:
            raise ValueError(f"SamplingSpec.top_k={self.top_k} must be >= 0 (0 disables it).")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_rollout(
        cls,
        rollout: RolloutConfig,
        *,
        n: int | None = None,
        seed: int | None = None,
        temperature: float | None = None,
    ) -> SamplingSpec:
        """The run's sampling settings (``rollout.*``), with ``n``/``seed``/``temperature`` set for this use."""
        return cls(
            n=rollout.num_generations if n is None else n,
            max_new_tokens=rollout.max_new_tokens,
            temperature=rollout.temperature if temperature is None else temperature,
            top_p=rollout.top_p,
            top_k=rollout.top_k,
            seed=seed,
        )

    @classmethod
    def greedy_spec(cls, max_new_tokens: int) -> SamplingSpec:
        return cls(n=1, max_new_tokens=max_new_tokens, temperature=0.0)


@dataclass(frozen=True)
class LoraHandle:
    """A LoRA adapter saved in peft format (``adapter_config.json`` + ``adapter_model.safetensors``).

    ``int_id`` must be >= 1 and unique per adapter (vLLM's ``LoRARequest`` rule); ``rank`` is checked against
    the ranks vLLM serves when given.
    """

    name: str
    int_id: int
    path: str
    rank: int | None = None

    def __post_init__(self) -> None:
        if self.int_id < 1:
            raise ValueError(
                f"LoraHandle.int_id={self.int_id} must be >= 1 (vLLM reserves 0 for 'no adapter')."
            )
        if not self.path:
            raise ValueError("LoraHandle.path is empty: give the directory the adapter was saved to.")


@dataclass(frozen=True)
class Completion:
    text: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...] | None = None
    finish_reason: FinishReason | None = None


OnBatch = Callable[[int], None]
"""Progress hook: called with the number of prompts a finished batch held."""


@runtime_checkable
class Generator(Protocol):
    def generate(
        self,
        prompts: Sequence[Prompt],
        spec: SamplingSpec,
        lora: LoraHandle | None = None,
        *,
        on_batch: OnBatch | None = None,
    ) -> list[list[Completion]]: ...


def texts(groups: list[list[Completion]]) -> list[list[str]]:
    """The completions' texts, group by group."""
    return [[c.text for c in group] for group in groups]


def check_completions(prompts: Sequence[Prompt], spec: SamplingSpec, out: list[list[Completion]]) -> None:
    """Raise ``ValueError`` naming the first way ``out`` breaks the contract for ``prompts`` and ``spec``."""
    if len(out) != len(prompts):
        raise ValueError(f"{len(out)} completion lists for {len(prompts)} prompts")
    for i, group in enumerate(out):
        if len(group) != spec.n:
            raise ValueError(f"prompt {i}: {len(group)} completions, expected n={spec.n}")
        for j, c in enumerate(group):
            where = f"prompt {i}, completion {j}"
            if len(c.token_ids) > spec.max_new_tokens:
                raise ValueError(f"{where}: {len(c.token_ids)} tokens > max_new_tokens={spec.max_new_tokens}")
            if not all(isinstance(t, int) for t in c.token_ids):
                raise ValueError(f"{where}: token ids must be ints")
            if spec.logprobs:
                if c.logprobs is None or len(c.logprobs) != len(c.token_ids):
                    raise ValueError(f"{where}: logprobs requested, need one per token")
                if any(not lp <= 0.0 for lp in c.logprobs):  # also catches NaN
                    raise ValueError(f"{where}: a log-probability must be <= 0, got {c.logprobs}")
            elif c.logprobs is not None:
                raise ValueError(f"{where}: logprobs not requested but returned")
