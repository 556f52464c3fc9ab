"""The policy's confidence as a label-free reward: Intuitor's self-certainty and RENT's negative entropy.

Both read the policy's next-token distributions over a completion, so unlike the majority vote they need the
model: :class:`ConfidenceReward` holds the policy being trained and scores each completion with one no-grad forward
pass of it as it is at that step (the same weights that sampled it).

Per completion token *t* with next-token distribution *p_t* over a vocabulary of size V (logits divided by the
sampling temperature, as TRL does for its log-probabilities):

- ``self_certainty`` (Intuitor, arXiv 2505.19590): KL(U || p_t) = logsumexp(z_t) - mean(z_t) - log V, i.e. how
  far the distribution is from uniform; the reward is its mean over the completion's tokens.
- ``entropy`` (RENT, arXiv 2505.22660): -H(p_t) = sum_j p_tj log p_tj; the reward is its mean (so more
  confident = higher reward).

Neither sees an answer: these are label-free baselines next to the majority vote. Their scale is unlike the
vote's 0/1, so they are normally used with ``train.scale_rewards=group`` (GRPO's group normalisation, as in
Intuitor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

KINDS = ("self_certainty", "entropy")


def token_scores(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-position score of next-token logits ``[..., V]``: self-certainty or negative entropy."""
    logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1)
    if kind == "self_certainty":
        return lse - logits.mean(dim=-1) - math.log(logits.shape[-1])
    if kind == "entropy":
        logp = logits - lse.unsqueeze(-1)
        return (logp.exp() * logp).sum(dim=-1)
    raise ValueError(f"unknown confidence kind {kind!r}; choose one of {KINDS}")


@torch.no_grad()
def completion_scores(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    *,
    kind: str,
    temperature: float = 1.0,
    pad_id: int = 0,
    batch_size: int = 64,
) -> list[float]:
    """Mean per-token score of each completion given its prompt (one no-grad forward pass per batch)."""
    device = next(model.parameters()).device
    scores: list[float] = []
    for start in range(0, len(completion_ids), batch_size):
        prompts = prompt_ids[start : start + batch_size]
        completions = completion_ids[start : start + batch_size]
        rows = [list(p) + list(c) for p, c in zip(prompts, completions, strict=True)]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
        attention = torch.zeros_like(ids)
        for i, r in enumerate(rows):  # right-padded: positions are the same as in an unpadded forward
            ids[i, : len(r)] = torch.tensor(r, device=device)
            attention[i, : len(r)] = 1
        logits = model(input_ids=ids, attention_mask=attention).logits / temperature
        per_position = token_scores(logits, kind)
        for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
            if not len(c):
                scores.append(0.0)
                continue
            # the distribution that produced completion token k sits at position len(p) + k - 1
            span = per_position[i, len(p) - 1 : len(p) + len(c) - 1]
            scores.append(float(span.mean()))
    return scores


class ConfidenceReward:
    """TRL reward function: the mean self-certainty (or negative entropy) of each completion under the policy.

    ``model`` is the policy the trainer trains (the same object, so each step scores with the current weights);
    prompts are tokenised as TRL tokenises them for generation (``GRPOTrainer._tokenize_prompts``: the
    tokenizer's plain call, or its chat template with a generation prompt)."""

    def __init__(
        self, kind: str, *, model: Any, tokenizer: Any, temperature: float = 1.0, batch_size: int = 64
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown confidence kind {kind!r}; choose one of {KINDS}")
        self.kind = kind
        self.__name__ = kind  # TRL names the reward's metrics after it
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.batch_size = batch_size

    def prompt_ids(self, prompts: Sequence[Any]) -> list[list[int]]:
        if isinstance(prompts[0], str):
            return self.tokenizer(text=list(prompts))["input_ids"]
        encoded = self.tokenizer.apply_chat_template(
            conversation=list(prompts), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return encoded["input_ids"]

    def __call__(
        self, prompts: Sequence[Any], completion_ids: Sequence[Sequence[int]], **_: Any
    ) -> list[float]:
        return completion_scores(
            self.model,
            self.prompt_ids(prompts),
            completion_ids,
            kind=self.kind,
            temperature=self.temperature,
            pad_id=self.tokenizer.pad_token_id or 0,
            batch_size=self.batch_size,
        )
