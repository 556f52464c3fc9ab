"""CuMa on top of TRL's GRPOTrainer: a narrow subclass, not a fork.

Three overrides, each calling ``super()``:

- ``_get_train_sampler``: the curriculum decides which prompts each generation batch draws
  (:class:`CurriculumSampler`, consulting :class:`~cuma_lite.curriculum.CurriculumScheduler` as training goes),
  instead of TRL's one-off shuffled ``RepeatSampler``.
- ``_generate_and_score_completions``: after TRL has generated and scored the batch, the **no-majority mask** is
  made exact. TRL turns a ``None`` reward into a zero advantage only; the masked completions' tokens would still
  count in the loss normaliser and still receive the KL/entropy terms. We zero their rows of ``completion_mask``
  and recompute ``num_items_in_batch`` from the new mask (TRL computed it before we get the dict back), so a
  masked group contributes exactly what a removed group would (for the ``dapo`` and ``bnpo`` losses, whose
  normalisers count tokens: the only ``train.loss_type`` values the config accepts).
  ``vote.mask_normaliser=batch`` (``dapo`` only) keeps the masked tokens in the normaliser instead -- the gradient
  of a step is then scaled by its unmasked share, as with TRL's ``None`` reward alone -- an ablation. Unsloth's
  compiled ``compute_loss`` reads the same two fields, so the mask survives its patched trainer: checked in the
  unsloth 2026.10.9 wheel, file, function and line, in the docstring of
  :mod:`cuma_lite.training.unsloth_backend`.
- ``training_step``: when *every* group of the generation batch is masked (on all processes), the gradients are
  dropped (set to ``None``), so the optimiser -- whose momentum would otherwise still move the weights -- leaves
  every parameter unchanged. With ``train.min_groups_per_update = K > 0`` the gradients are *banked* instead:
  each step's gradient is added to a bank (weighted by its unmasked tokens) and the optimiser steps only once the
  bank holds K informative groups (unmasked, answers not unanimous), with the bank's token-weighted mean -- the
  gradient of one DAPO loss over all banked groups. Adam normalises the scale of whatever gradient it gets, so
  without a bank a step whose mask left one or two groups moves the weights as far as a full batch would, in a
  direction set by those few groups; the bank makes every update rest on at least K groups (DAPO's "dynamic
  sampling" -- keep sampling until the batch is full of groups with signal -- done across steps).

The class is built by :func:`cuma_trainer_class` from whichever ``GRPOTrainer`` is in use, because importing
unsloth swaps ``trl.GRPOTrainer`` for its own patched class: the subclass must inherit from that one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Sampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from cuma_lite.curriculum import CURRICULUM_STATE, CurriculumScheduler
from cuma_lite.rewards import GroupVote, MajorityVoteReward

logger = logging.getLogger(__name__)


class CurriculumSampler(Sampler[int]):
    """Yields prompt indices shaped like TRL's ``RepeatSampler``, drawn generation by generation from a curriculum.

    For generation ``k``: ``prompts = scheduler.draw(k, prompts_per_generation)``; the block (each prompt repeated
    ``num_generations`` times in a row) is yielded ``repeat_count`` times, because TRL's dataloader hands the
    trainer the whole generation batch once per accumulation step. Iteration is lazy, so each draw sees the
    curriculum's state (and, in adaptive mode, the mask rates observed so far) at that point of training.
    """

    def __init__(
        self,
        scheduler: CurriculumScheduler,
        *,
        prompts_per_generation: int,
        num_generations: int,
        repeat_count: int,
        total_generations: int,
    ) -> None:
        self.scheduler = scheduler
        self.prompts_per_generation = prompts_per_generation
        self.num_generations = num_generations
        self.repeat_count = repeat_count
        self.total_generations = total_generations
        self.generation = 0  # the next generation batch to draw; restored on resume

    def __len__(self) -> int:
        return self.total_generations * self.repeat_count * self.prompts_per_generation * self.num_generations

    def __iter__(self) -> Iterator[int]:
        while self.generation < self.total_generations:
            prompts = self.scheduler.draw(self.generation, self.prompts_per_generation)
            self.generation += 1
            block = [i for i in prompts for _ in range(self.num_generations)]
            for _ in range(self.repeat_count):
                yield from block


def informative(group: GroupVote, *, majority_only: bool) -> bool:
    """Whether a group can move the policy: unmasked and, for the vote's 0/1 reward, not unanimous."""
    if group.vote.masked:
        return False
    return not majority_only or len(set(group.vote.rewards)) > 1


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


def cuma_trainer_class(base: type) -> type:
    """Subclass ``base`` (TRL's GRPOTrainer, or Unsloth's patched one) with CuMa's mask and curriculum."""

    class CuMaGRPOTrainer(base):  # type: ignore[misc, valid-type]
        def __init__(
            self,
            *args: Any,
            vote_reward: MajorityVoteReward,
            sampler: CurriculumSampler,
            on_votes: Callable[[list[GroupVote]], dict[str, float]] | None = None,
            mask_normaliser: str = "unmasked",
            min_groups_per_update: int = 0,
            vote_is_reward: bool = True,
            **kwargs: Any,
        ) -> None:
            self.vote_reward = vote_reward
            self.mask_normaliser = mask_normaliser
            self.bank = GradientBank(min_groups_per_update) if min_groups_per_update else None
            self.vote_is_reward = vote_is_reward
            self._step_tokens, self._step_groups = 0.0, 0
            self.curriculum_sampler = sampler
            self.on_votes = on_votes
            self._all_masked = False
            super().__init__(*args, **kwargs)

        def restore_curriculum(self, checkpoint: Path) -> None:
            """Continue the curriculum where ``checkpoint`` left it (called before ``train(resume_from_checkpoint)``)."""
            path = checkpoint / CURRICULUM_STATE
            if not path.exists():
                logger.warning(
                    "%s has no curriculum state; the schedule restarts from its beginning.", checkpoint
                )
                return
            state = json.loads(path.read_text())
            self.curriculum_sampler.generation = int(state.pop("generation"))
            self.curriculum_sampler.scheduler.load_state_dict(state)

        def _get_train_sampler(self, dataset: Any = None) -> Sampler[int]:
            return self.curriculum_sampler

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            out = super()._generate_and_score_completions(inputs)
            groups = self.vote_reward.last_groups
            row_masked = self.vote_reward.last_local_masked
            keep = torch.tensor(
                [not m for m in row_masked], device=out["completion_mask"].device
            )  # [B_local]
            out["completion_mask"] = out["completion_mask"] * keep.unsqueeze(1).to(
                out["completion_mask"].dtype
            )
            loss_mask = (
                out["completion_mask"]
                if "tool_mask" not in out
                else out["completion_mask"] * out["tool_mask"]
            )
            if self.mask_normaliser == "unmasked":  # exact: a masked group is a removed group
                out["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
            self._all_masked = bool(groups) and all(g.vote.masked for g in groups)
            self._step_tokens = float(out["num_items_in_batch"])
            self._step_groups = sum(informative(g, majority_only=self.vote_is_reward) for g in groups)
            self.scheduler_observe(groups)
            if self.on_votes is not None:
                for name, value in self.on_votes(groups).items():
                    self._metrics["train"][name].append(value)
            return out

        def scheduler_observe(self, groups: list[GroupVote]) -> None:
            scheduler = self.curriculum_sampler.scheduler
            levels = [g.level for g in groups]
            if levels and all(lv is not None for lv in levels):
                scheduler.observe(levels, [g.vote.masked for g in groups])

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            super()._save_checkpoint(model, trial)
            if self.args.should_save:  # the curriculum's state travels with each checkpoint (for --resume)
                ckpt = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
                state = {
                    "generation": self.state.global_step,
                    **self.curriculum_sampler.scheduler.state_dict(),
                }
                (ckpt / CURRICULUM_STATE).write_text(json.dumps(state))

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> torch.Tensor:
            loss = super().training_step(model, inputs, num_items_in_batch)
            if self.bank is not None:
                # bank at the last micro-batch only, where p.grad holds the whole generation batch's gradient
                if self.accelerator.sync_gradients:
                    ready = self.bank.add(model, tokens=self._step_tokens, groups=self._step_groups)
                    self._metrics["train"]["cuma/update"].append(float(ready))
            elif self._all_masked:  # no group had a majority: no update at all, not even Adam's momentum
                for p in model.parameters():
                    p.grad = None
            return loss

    return CuMaGRPOTrainer
