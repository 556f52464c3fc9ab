"""The collapse guard's look at the policy: greedy answers to fixed unlabelled prompts, and how far they have drifted.

Every ``train.guard_window`` steps the policy answers ``train.guard_prompts`` training prompts (their text only, no
gold) greedily. The answers feed the churn signal; the completions are then scored under the weights the run
started from (``log p_start(completion | prompt)``), for the drift signal (:mod:`cuma_lite.training.guard`). The
start's weights are the trainable parameters as they were at the first look, swapped in for the scoring and back
out bit for bit: for a LoRA run that is the adapter at its start, for a full fine-tune the whole model (one extra
copy of it in memory). A resumed run measures drift from the checkpoint it resumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from cuma_lite.extraction import extract_answer
from cuma_lite.prompts import Prompt, prompt_token_ids
from cuma_lite.rollout.contract import SamplingSpec
from cuma_lite.training.guard import Look, put_weights, trainable_weights


class GreedyLook:
    """``look(model) -> Look``: the answers, and the mean NLL of the completions under the start's weights
    (``drift=False``: answers only; the run turns it off for a gold reward, a zero ``train.guard_drift``, and backends
    whose forward pass is unverified)."""

    def __init__(
        self,
        backend: Any,
        tokenizer: Any,
        prompts: Sequence[Prompt],
        max_new_tokens: int,
        *,
        drift: bool = True,
        micro_batch: int = 64,
    ) -> None:
        self.backend, self.tokenizer = backend, tokenizer
        self.prompts = list(prompts)
        self.spec = SamplingSpec.greedy_spec(max_new_tokens)
        self.drift, self.micro_batch = drift, micro_batch
        self.prompt_ids = prompt_token_ids(self.prompts, tokenizer)
        self.start: dict[str, Any] | None = None

    def __call__(self, model: Any) -> Look:
        groups = self.backend.generator(model, self.tokenizer).generate(self.prompts, self.spec)
        answers = [extract_answer(g[0].text) for g in groups]
        if not self.drift:
            return Look(answers)
        if self.start is None:
            self.start = trainable_weights(model)
        completions = [list(g[0].token_ids) for g in groups]
        return Look(answers, self.start_nll(model, completions))

    def start_nll(self, model: Any, completions: Sequence[list[int]]) -> float:
        """Mean over prompts of ``-log p(completion | prompt)`` under the start's weights."""
        import torch

        from cuma_lite.transfer import sequence_logprobs

        assert self.start is not None
        pairs = [(p, c) for p, c in zip(self.prompt_ids, completions, strict=True) if c]
        total = 0.0
        with torch.no_grad(), _weights(model, self.start):
            for i in range(0, len(pairs), self.micro_batch):
                total -= float(sequence_logprobs(model, pairs[i : i + self.micro_batch]).sum())
        return total / len(completions) if completions else 0.0


@contextmanager
def _weights(model: Any, weights: dict[str, Any]) -> Any:
    """``model`` with ``weights`` in place of its own, in eval mode; its own (and its mode) back afterwards."""
    own, training = trainable_weights(model), model.training
    put_weights(model, weights)
    model.eval()
    try:
        yield model
    finally:
        put_weights(model, own)
        model.train(training)
