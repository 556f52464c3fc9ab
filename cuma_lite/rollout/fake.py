"""A deterministic generator without a model: honours the whole contract, for tests.

Tokens are bytes (id ``b`` is byte ``b``, like the embedded tiny tokenizer) and ``eos_id`` ends a completion that
fits its budget. What a completion *says* comes from ``respond(prompt, rng)`` (chat prompts are rendered by :func:`render_chat` first) -- by default a short answer drawn
from ``rng`` -- so a test can script votes (``respond=lambda p, rng: rng.choice([" 4", " 4", " 5"])``). The
per-completion ``rng`` is seeded from ``(seed, prompt, index)``, so a prompt's completions do not depend on the
other prompts of the call; greedy (``temperature=0``) uses index 0 for all ``n``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from cuma_lite.prompts import Prompt
from cuma_lite.rollout.contract import Completion, LoraHandle, OnBatch, SamplingSpec

Respond = Callable[[str, random.Random], str]


def default_respond(prompt: str, rng: random.Random) -> str:
    return f" The answer is {rng.randint(0, 9)}."


def render_chat(messages: list[dict[str, str]]) -> str:
    """A stand-in chat template: ``role: content`` lines and an open assistant turn."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "


class FakeGenerator:
    """``respond`` writes each completion's text; ``calls`` records ``(prompts, spec, lora)`` of every call."""

    def __init__(self, respond: Respond = default_respond, *, eos_id: int = 256) -> None:
        self.respond = respond
        self.eos_id = eos_id
        self.calls: list[tuple[list[str], SamplingSpec, LoraHandle | None]] = []

    def generate(
        self,
        prompts: Sequence[Prompt],
        spec: SamplingSpec,
        lora: LoraHandle | None = None,
        *,
        on_batch: OnBatch | None = None,
    ) -> list[list[Completion]]:
        texts = [p if isinstance(p, str) else render_chat(p) for p in prompts]
        self.calls.append((texts, spec, lora))
        adapter = lora.name if lora is not None else ""
        out = [[self._one(p, 0 if spec.greedy else j, spec, adapter) for j in range(spec.n)] for p in texts]
        if on_batch is not None and texts:
            on_batch(len(texts))
        return out

    def _one(self, prompt: str, index: int, spec: SamplingSpec, adapter: str) -> Completion:
        seed = 0 if spec.greedy or spec.seed is None else spec.seed
        rng = random.Random(f"{seed}|{adapter}|{index}|{prompt}")
        ids = list(self.respond(prompt, rng).encode("utf-8"))
        if len(ids) < spec.max_new_tokens:
            ids.append(self.eos_id)
            finish = "stop"
        else:
            ids = ids[: spec.max_new_tokens]
            finish = "length"
        text = bytes(t for t in ids if t < 256).decode("utf-8", errors="replace")
        logprobs = tuple(math.log(rng.uniform(0.05, 1.0)) for _ in ids) if spec.logprobs else None
        return Completion(text, tuple(ids), logprobs, finish)  # type: ignore[arg-type]
