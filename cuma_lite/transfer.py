"""Transfer forecast: will a setting's update on some prompts raise gold accuracy on *other* prompts?

The gold alignment of :mod:`cuma_lite.forecast` projects a setting's advantages on gold's within each prompt, so it
cannot see what training one prompt does to another, which is all a held-out score measures. This forecast takes
the model's gradients instead (first order, one step, from the start):

- two sets of prompts: ``train`` (the setting trains on them, a group of G samples each) and ``held-out`` (all K
  samples each);
- ``g_H`` = the gold reward's policy gradient on the held-out prompts: the direction that raises held-out accuracy
  (its advantages centred over all K samples: the more samples, the less noise);
- per step of ``step_prompts`` train prompts, ``g_k`` = the setting's GRPO gradient
  (``sum_i A_i grad log p(y_i) / tokens``, the ``dapo`` loss at the start, where the ratio is 1);
- the update is Adam's: ``u = mean_k g_k / sqrt(mean_k g_k^2)`` (Adam at a constant learning rate after its first
  steps; scale-free, so a setting that masks most groups still moves the weights as far as one that masks none);
- ``transfer = (g_H . u_setting) / (g_H . u_gold)``: the setting's first-order gain in held-out gold reward as a
  share of the gold reward's own. Its interval resamples the training steps and the held-out prompts (in chunks of
  ``step_prompts``) together (bootstrap).

Needs torch and a model; keeps ``steps x parameters`` floats a setting (the embedded models: ~4 MB a step). Gold
answers of the probed prompts give gold's advantages here, as in the rest of the probe; no training reads them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Advantages = Callable[[int], list[float]]
"""Given a prompt's index, the advantages a setting gives its sampled completions (0: no gradient)."""


@dataclass(frozen=True)
class Transfer:
    setting: str
    transfer: float
    """First-order held-out gain of the setting's Adam update, as a share of the gold reward's."""
    interval: tuple[float, float]
    """95% bootstrap interval over training steps and held-out chunks."""

    def verdict(self) -> str:
        """The sign of the forecast, where its interval says it (no threshold to tune). The probe's verdict comes
        from the gold alignment, chosen on the validation grid; this one is for comparison."""
        lo, hi = self.interval
        return "will help" if lo > 0 else "will not help" if hi < 0 else "unclear"


def policy_gradient(
    model: Any, sequences: Sequence[tuple[list[int], list[int], float]], micro_batch: int = 64
) -> Any:
    """Flat gradient of ``-sum_i A_i log p(completion_i | prompt_i) / tokens`` over ``(prompt ids, completion ids,
    A_i)``: the GRPO ``dapo`` loss's gradient at the start (ratio 1, no clipping), accumulated over micro-batches
    of ``micro_batch`` sequences. Zeros when no ``A_i`` is set."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    active = [s for s in sequences if s[2] != 0 and s[1]]
    tokens = sum(len(c) for _, c, _ in sequences)
    for start in range(0, len(active), micro_batch):
        _backward(model, active[start : start + micro_batch], tokens)
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().flatten() for p in params]
    )


def _backward(model: Any, active: Sequence[tuple[list[int], list[int], float]], tokens: int) -> None:
    import torch

    if active:
        logp = sequence_logprobs(model, [(p, c) for p, c, _ in active])  # [N]
        weight = torch.tensor([a for _, _, a in active], dtype=torch.float32, device=logp.device)  # [N]
        (-(weight * logp).sum() / tokens).backward()


def sequence_logprobs(model: Any, pairs: Sequence[tuple[list[int], list[int]]]) -> Any:
    """``log p(completion | prompt)`` per ``(prompt ids, completion ids)`` pair, one forward pass (``[N]``)."""
    import torch

    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.zeros((len(pairs), width), dtype=torch.long)  # [N, T], right-padded
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    target = torch.zeros((len(pairs), width), dtype=torch.bool)  # completion tokens
    for row, (p, c) in enumerate(pairs):
        ids[row, : len(p) + len(c)] = torch.tensor(p + c)
        mask[row, : len(p) + len(c)] = 1
        target[row, len(p) : len(p) + len(c)] = True
    device = next(model.parameters()).device
    ids, mask, target = ids.to(device), mask.to(device), target.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # [N, T-1, V]
    logp = torch.log_softmax(logits, -1).gather(2, ids[:, 1:, None])[..., 0]  # [N, T-1]
    return (logp * target[:, 1:]).sum(1)  # [N]


def adam_direction(steps: Any) -> Any:
    """Adam's update direction from per-step gradients ``[S, P]``: ``mean / sqrt(mean of squares)`` (``[P]``)."""
    return steps.mean(0) / (steps.pow(2).mean(0).sqrt() + 1e-12)


Group = Sequence[tuple[list[int], list[int]]]
"""One prompt's sampled completions, as (prompt ids, completion ids)."""


def transfer_forecast(
    model: Any,
    train: Sequence[Group],
    held_out: Sequence[Group],
    advantages: dict[str, Advantages],
    gold: Advantages,
    held_out_gold: Advantages,
    *,
    step_prompts: int = 16,
    boot: int = 200,
    seed: int = 0,
) -> list[Transfer]:
    """``advantages``: per setting, the advantages it gives train prompt j's group; ``gold``: the gold reward's on
    the same groups; ``held_out_gold``: the gold reward's on held-out prompt j's samples."""
    import torch

    def batch(
        groups: Sequence[Group], prompts: range, adv: Advantages
    ) -> list[tuple[list[int], list[int], float]]:
        return [(p, c, a) for j in prompts for (p, c), a in zip(groups[j], adv(j), strict=True)]

    def per_step(groups: Sequence[Group], adv: Advantages) -> Any:  # [S, P]
        prompts = range(len(groups))
        return torch.stack(
            [
                policy_gradient(model, batch(groups, prompts[s : s + step_prompts], adv))
                for s in range(0, len(prompts), step_prompts)
            ]
        )

    held_out_chunks = per_step(held_out, held_out_gold)  # [C, P]: their sum is gold's gradient on held-out
    gold_steps = per_step(train, gold)
    rng = random.Random(seed)
    n, c = gold_steps.shape[0], held_out_chunks.shape[0]
    draws = [
        (
            torch.tensor([rng.randrange(n) for _ in range(n)]),
            torch.tensor([rng.randrange(c) for _ in range(c)]),
        )
        for _ in range(boot)
    ]

    everything = (slice(None), slice(None))

    def gain(steps: Any, pick: tuple[Any, Any]) -> float:
        """First-order held-out gain of the Adam update from the picked steps, on the picked held-out chunks."""
        steps_at, chunks_at = pick
        return float(held_out_chunks[chunks_at].sum(0) @ adam_direction(steps[steps_at]))

    gold_gains = [gain(gold_steps, d) for d in (everything, *draws)]  # once, shared by every setting

    def share(steps: Any, k: int, pick: tuple[Any, Any]) -> float:
        return gain(steps, pick) / gold_gains[k] if gold_gains[k] else 0.0

    out = []
    for name, adv in advantages.items():
        steps = per_step(train, adv)
        values = sorted(share(steps, k + 1, d) for k, d in enumerate(draws))
        interval = (values[int(0.025 * boot)], values[int(0.975 * boot) - 1]) if values else (0.0, 0.0)
        out.append(Transfer(name, share(steps, 0, everything), interval))
    return out
