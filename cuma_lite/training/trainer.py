"""CuMa on TRL's ``GRPOTrainer``: a narrow subclass, not a fork. Its deviations from ``GRPOTrainer``:

1. The curriculum sampler replaces ``RepeatSampler``: each generation batch is drawn when it is needed.
2. Masked groups leave the loss and its normaliser, exactly as if removed (TRL's ``None`` reward only zeroes
   their advantage); with ``reward.center=false`` the shaped rewards replace TRL's centred advantages.
3. A step whose every group is masked drops its gradients: no update at all, not even Adam's momentum.
4. With ``train.min_groups_per_update = K``, gradients are banked until K informative groups are in.
5. Each checkpoint carries the curriculum's and the bank's state, and a resumed run restores the random state
   just before its first generation: ``--resume`` gives the uninterrupted run, bit for bit.

The detail is at the method that does each. The class is built by :func:`cuma_trainer_class` from whichever
``GRPOTrainer`` is in use: importing unsloth replaces TRL's with its own, and the subclass must extend that one.
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
from cuma_lite.training.mask import GradientBank, StepSignal, apply_vote_mask, informative

logger = logging.getLogger(__name__)

BANK_STATE = "gradient_bank.pt"
"""The gradient bank's banked gradients, inside each checkpoint (``train.min_groups_per_update > 0``)."""
OnVotes = Callable[[list[GroupVote], int], dict[str, float]]
"""Called with each generation batch's votes and its step number; returns metrics to log."""


class CurriculumSampler(Sampler[int]):
    """Yields prompt indices shaped like TRL's ``RepeatSampler``, drawn generation by generation from a curriculum.

    For generation ``k``: ``prompts = scheduler.draw(k, prompts_per_generation)``; the block (each prompt repeated
    ``num_generations`` times in a row) is yielded ``repeat_count`` times, because TRL's dataloader hands the
    trainer the whole generation batch once per accumulation step.

    Iteration is lazy, but accelerate's dataloader reads one batch ahead, so generation k+1 is drawn *before* the
    votes of generation k are observed: draw(0) draw(1) observe(0) draw(2) observe(1) ... The adaptive
    curriculum therefore decides on mask rates one generation old (asserted by a test). It also means that when
    a checkpoint is written after step s, generation s has already been drawn: :meth:`state_dict` keeps its
    prompts, so that a resumed run trains on them instead of drawing again.
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
        self.generation = 0  # the next generation batch to yield; restored on resume
        self.drawn: dict[
            int, list[int]
        ] = {}  # generation -> its prompts, for those drawn and maybe not yet trained

    def __len__(self) -> int:
        return self.total_generations * self.repeat_count * self.prompts_per_generation * self.num_generations

    def __iter__(self) -> Iterator[int]:
        while self.generation < self.total_generations:
            k = self.generation
            if k not in self.drawn:
                self.drawn[k] = self.scheduler.draw(k, self.prompts_per_generation)
            self.drawn = {g: p for g, p in self.drawn.items() if g >= k - 1}
            self.generation += 1
            block = [i for i in self.drawn[k] for _ in range(self.num_generations)]
            for _ in range(self.repeat_count):
                yield from block

    def state_dict(self, trained: int) -> dict[str, Any]:
        """The curriculum after ``trained`` generations: the scheduler, and the prompts already drawn beyond them."""
        pending = {str(g): p for g, p in self.drawn.items() if g >= trained}
        return {"generation": trained, "pending": pending, **self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.generation = int(state.pop("generation"))
        self.drawn = {int(g): list(p) for g, p in state.pop("pending", {}).items()}
        self.scheduler.load_state_dict(state)


def cuma_trainer_class(base: type) -> type:
    """Subclass ``base`` (TRL's GRPOTrainer, or Unsloth's patched one) with CuMa's mask and curriculum."""

    class CuMaGRPOTrainer(base):  # type: ignore[misc, valid-type]
        def __init__(
            self,
            *args: Any,
            vote_reward: MajorityVoteReward,
            sampler: CurriculumSampler,
            on_votes: OnVotes | None = None,
            mask_normaliser: str = "unmasked",
            min_groups_per_update: int = 0,
            vote_is_reward: bool = True,
            **kwargs: Any,
        ) -> None:
            self.vote_reward = vote_reward
            self.curriculum_sampler = sampler
            self.on_votes = on_votes
            self.mask_normaliser = mask_normaliser
            self.vote_is_reward = vote_is_reward
            self.bank = GradientBank(min_groups_per_update) if min_groups_per_update else None
            self._signal: StepSignal | None = None  # made per generation batch, read at its optimiser step
            self._resume_rng_from: str | None = None
            super().__init__(*args, **kwargs)

        # 1. the curriculum decides what each generation batch draws
        def _get_train_sampler(self, dataset: Any = None) -> Sampler[int]:
            return self.curriculum_sampler

        # 2. masked groups leave the loss and its normaliser
        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            """After TRL has generated and scored the batch: take its votes, zero the masked rows of
            ``completion_mask`` and ``tool_mask`` (:mod:`.mask`) and recount ``num_items_in_batch`` from the new
            mask (TRL counted it before we get the dict back). ``vote.mask_normaliser=batch`` keeps the masked
            tokens in the count (an ablation)."""
            if self._resume_rng_from is not None:  # see _load_rng_state
                super()._load_rng_state(self._resume_rng_from)
                self._resume_rng_from = None
            out = super()._generate_and_score_completions(inputs)
            votes = self.vote_reward.take_votes([x["id"] for x in inputs])
            recount = self.mask_normaliser == "unmasked"
            out = apply_vote_mask(out, votes.local_masked, recount=recount, gather=self.accelerator.gather)
            # reward.center=false or reward.consolidate: the shaping's own advantages replace TRL's centred ones
            if votes.local_advantages is not None:
                out["advantages"] = torch.tensor(
                    votes.local_advantages, device=out["advantages"].device, dtype=out["advantages"].dtype
                )
            self._signal = StepSignal(
                tokens=float(out["num_items_in_batch"]),
                informative_groups=sum(
                    informative(g, majority_only=self.vote_is_reward) for g in votes.groups
                ),
                all_masked=bool(votes.groups) and all(g.vote.masked for g in votes.groups),
            )
            self._observe(votes.groups)
            if self.on_votes is not None:
                for name, value in self.on_votes(votes.groups, self.state.global_step + 1).items():
                    self._metrics["train"][name].append(value)
            return out

        def _observe(self, groups: list[GroupVote]) -> None:
            levels = [g.level for g in groups]
            if levels and all(lv is not None for lv in levels):
                masked, agreement = [g.vote.masked for g in groups], [g.agreement for g in groups]
                self.curriculum_sampler.scheduler.observe(levels, masked, agreement)

        # 3. and 4. an all-masked step moves nothing; the bank waits for enough informative groups
        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> torch.Tensor:
            loss = super().training_step(model, inputs, num_items_in_batch)
            if (
                not self.accelerator.sync_gradients
            ):  # p.grad holds the whole batch at the last micro-batch only
                return loss
            signal = self._signal
            if signal is None:
                raise RuntimeError("training_step without the StepSignal of its generation batch.")
            if self.bank is not None:
                ready = self.bank.add(model, tokens=signal.tokens, groups=signal.informative_groups)
                self._metrics["train"]["cuma/update"].append(float(ready))
            elif signal.all_masked:  # no group had a majority: no update at all, not even Adam's momentum
                for p in model.parameters():
                    p.grad = None
            return loss

        # 5. the curriculum's state (and the bank's) travels with each checkpoint
        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            super()._save_checkpoint(model, trial)
            if self.args.should_save:  # written last: a checkpoint without it was cut short by a kill
                ckpt = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
                if self.bank is not None:
                    torch.save(self.bank.state_dict(self.model), ckpt / BANK_STATE)
                state = self.curriculum_sampler.state_dict(trained=self.state.global_step)
                (ckpt / CURRICULUM_STATE).write_text(json.dumps(state))

        def _load_rng_state(self, checkpoint: str | None) -> None:
            """Deferred to the first generation: the Trainer restores the random state before it creates the data
            iterator, whose creation draws from the torch RNG (the uninterrupted run did that draw at step 1)."""
            self._resume_rng_from = checkpoint

        def restore_curriculum(self, checkpoint: Path) -> None:
            """Continue the curriculum (and the gradient bank) where ``checkpoint`` left them; call before
            ``train(resume_from_checkpoint)``."""
            path = checkpoint / CURRICULUM_STATE
            if not path.exists():
                logger.warning(
                    "%s has no curriculum state; the schedule restarts from its beginning.", checkpoint
                )
                return
            self.curriculum_sampler.load_state_dict(json.loads(path.read_text()))
            if self.bank is not None and (checkpoint / BANK_STATE).exists():
                self.bank.load_state_dict(self.model, torch.load(checkpoint / BANK_STATE, weights_only=True))

    return CuMaGRPOTrainer
