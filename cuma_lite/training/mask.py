"""The no-majority mask as loss arithmetic, and the gradient bank: small standalone units with shape comments.

A masked group must be exactly a removed group. TRL's own ``None`` reward only zeroes the advantage: the group's
tokens would still count in the loss normaliser and still get the KL term. So the trainer zeroes the masked rows
of ``completion_mask`` *and* of ``tool_mask``, and recounts the normaliser from the new mask (:func:`mask_rows`,
:func:`loss_tokens`). TRL multiplies both masks into its loss; Unsloth's loss rebuilds ``completion_mask`` from the
token ids but still multiplies ``tool_mask`` in (docs/gpu-path.md), so the rows stay out on both backends. For the
``dapo`` and ``bnpo`` losses, whose normalisers count tokens, the gradient of a batch with masked groups is then
the gradient of the batch without them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from cuma_lite.rewards import GroupVote


def mask_rows(mask: torch.Tensor, masked: Sequence[bool]) -> torch.Tensor:
    """``mask`` (``completion_mask`` or ``tool_mask``) with the rows of masked completions zeroed (a new tensor)."""
    keep = torch.tensor([not m for m in masked], device=mask.device)  # [B]
    return mask * keep.unsqueeze(1).to(mask.dtype)  # [B, T]


def loss_tokens(completion_mask: torch.Tensor, tool_mask: torch.Tensor | None = None) -> torch.Tensor:
    """How many tokens the loss averages over on this process (``dapo``'s normaliser before gathering)."""
    mask = completion_mask if tool_mask is None else completion_mask * tool_mask  # [B, T]
    return mask.sum()  # []


def apply_vote_mask(
    batch: dict[str, Any],
    masked: Sequence[bool],
    *,
    recount: bool = True,
    gather: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
) -> dict[str, Any]:
    """The batch TRL's ``_generate_and_score_completions`` returned, with masked completions out of the loss.

    Zeroes their rows of ``completion_mask`` and ``tool_mask`` and, with ``recount``, sets ``num_items_in_batch``
    to the tokens left (summed over processes by ``gather``). ``recount=False`` is ``vote.mask_normaliser=batch``.
    """
    out = dict(batch)
    out["completion_mask"] = mask_rows(batch["completion_mask"], masked)  # [B, T]
    tool_mask = batch.get("tool_mask", torch.ones_like(batch["completion_mask"]))
    out["tool_mask"] = mask_rows(tool_mask, masked)  # [B, T]: what Unsloth's loss honours
    if recount:
        out["num_items_in_batch"] = gather(loss_tokens(out["completion_mask"], out["tool_mask"])).sum()
    return out


def informative(group: GroupVote, *, majority_only: bool) -> bool:
    """Whether a group can move the policy: unmasked and, when the vote's reward is the one optimised, with some
    advantage (not a unanimous 0/1 group)."""
    if group.vote.masked:
        return False
    return not majority_only or group.informative


@dataclass(frozen=True)
class StepSignal:
    """What one generation batch's votes left for its optimiser step (made once per batch, read at the step)."""

    tokens: float
    """Tokens in the loss (all processes): the weight of this step's gradient in the bank."""
    informative_groups: int
    """Unmasked groups with signal (:func:`informative`)."""
    all_masked: bool
    """Every group of the batch is masked: the step must not move the weights."""


class GradientBank:
    """Accumulates per-step gradients until ``min_groups`` informative groups are in, then releases their mean.

    ``add`` is called right after a step's backward pass. Each step's gradient is its loss normalised by its own
    unmasked tokens, so it is re-weighted by those tokens; the released gradient is the token-weighted mean, the
    same as one ``dapo`` loss over every banked completion. Until then the gradients are set to ``None``, which
    makes the optimiser skip the step (Adam's moments and step count stay put).
    """

    def __init__(self, min_groups: int) -> None:
        self.min_groups = min_groups
        self.grads: dict[int, torch.Tensor] = {}
        self.tokens = 0.0
        self.groups = 0

    def add(self, model: Any, *, tokens: float, groups: int) -> bool:
        """Bank the gradients now in ``model``; True when they were released (the optimiser may step)."""
        params = [p for p in model.parameters() if p.grad is not None]
        if tokens > 0:
            for p in params:
                bank = self.grads.get(id(p))
                weighted = p.grad.detach() * tokens
                self.grads[id(p)] = weighted if bank is None else bank.add_(weighted)
            self.tokens += tokens
            self.groups += groups
        ready = self.groups >= self.min_groups
        for p in model.parameters():
            p.grad = None
            if ready and id(p) in self.grads:
                p.grad = self.grads[id(p)].div_(self.tokens)
        if ready:
            self.grads, self.tokens, self.groups = {}, 0.0, 0
        return ready

    def state_dict(self, model: Any) -> dict[str, Any]:
        """What is banked, keyed by parameter name (for a checkpoint)."""
        names = {id(p): n for n, p in model.named_parameters()}
        return {
            "tokens": self.tokens,
            "groups": self.groups,
            "grads": {names[k]: g for k, g in self.grads.items()},
        }

    def load_state_dict(self, model: Any, state: dict[str, Any]) -> None:
        params = dict(model.named_parameters())
        self.tokens, self.groups = float(state["tokens"]), int(state["groups"])
        self.grads = {id(params[n]): g.to(params[n].device) for n, g in state["grads"].items()}
