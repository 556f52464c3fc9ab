"""Label-free rewards, as TRL reward functions. Pure: strings in, floats (or ``None``) out.

:class:`MajorityVoteReward` is TTRL's reward with CuMa's no-majority mask: each completion's final answer is
extracted, the group of ``num_generations`` completions of one prompt votes (:func:`cuma_lite.voting.majority_vote`),
and a completion earns 1.0 when it agrees with the group's pseudo-label, 0.0 otherwise -- or ``None`` for every
member of a masked group (no clear majority), which the trainer turns into "no gradient at all".

Groups are contiguous in TRL's reward batch (``[k*G:(k+1)*G]`` is one prompt). With several processes a group
can be split across them, so the answers are gathered (``gather``) and every process votes over the whole
generation batch, then keeps its own slice: the votes equal those of a single process.

Gold answers never reach this class: the trainer drops them from the training dataset, and the reward reads
only the completions and the ``id``/``level`` columns (for diagnostics and the curriculum).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cuma_lite.answers import answers_equivalent, extract_answer
from cuma_lite.voting import Vote, majority_vote

Gather = Callable[[list[Any]], list[Any]]


@dataclass(frozen=True)
class GroupVote:
    """One prompt's vote, as the trainer logs it and the curriculum consumes it."""

    prompt_id: str
    level: int | None
    """The prompt's curriculum level (the dataset's ``level`` column), None when the data has none."""
    completions: tuple[str, ...]
    answers: tuple[str | None, ...]
    vote: Vote


def completion_text(completion: Any) -> str:
    """A completion as text: TRL passes a string, or a list of chat messages for conversational prompts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def _identity(items: list[Any]) -> list[Any]:
    return items


class MajorityVoteReward:
    """TRL reward function: 1 for agreeing with the group's majority answer, 0 otherwise, None when masked."""

    __name__ = "majority_vote"  # TRL names the reward's metrics after it

    def __init__(
        self,
        num_generations: int,
        *,
        min_share: float = 0.5,
        gather: Gather = _identity,
        process_index: int = 0,
    ) -> None:
        self.num_generations = num_generations
        self.min_share = min_share
        self.gather = gather
        self.process_index = process_index
        self.last_groups: list[GroupVote] = []
        """Votes of the whole (gathered) generation batch scored last, in order."""
        self.last_local_masked: list[bool] = []
        """Per local completion: whether its group was masked (the trainer removes these from the loss)."""

    def __call__(
        self,
        completions: Sequence[Any],
        id: Sequence[Any] | None = None,
        level: Sequence[Any] | None = None,
        **_: Any,
    ) -> list[float | None]:
        n_local = len(completions)
        local_texts = [completion_text(c) for c in completions]
        local = [extract_answer(t) for t in local_texts]
        ids = list(id) if id is not None else [None] * n_local
        levels = list(level) if level is not None else [None] * n_local
        answers, texts = self.gather(local), self.gather(local_texts)
        ids, levels = self.gather(ids), self.gather(levels)
        g = self.num_generations
        if len(answers) % g:
            raise ValueError(
                f"the reward batch holds {len(answers)} completions, not a multiple of num_generations={g}; "
                "generation_batch_size must be a multiple of the group size."
            )
        rewards: list[float | None] = []
        self.last_groups = []
        for start in range(0, len(answers), g):
            group = answers[start : start + g]
            vote = majority_vote(group, min_share=self.min_share)
            span = slice(start, start + g)
            self.last_groups.append(
                GroupVote(str(ids[start]), levels[start], tuple(texts[span]), tuple(group), vote)
            )
            rewards.extend(vote.rewards)
        mine = slice(self.process_index * n_local, (self.process_index + 1) * n_local)
        self.last_local_masked = [r is None for r in rewards[mine]]
        return rewards[mine]


class GoldAnswerReward:
    """1 when the completion's answer equals the prompt's gold answer, else 0: a *supervised* control.

    Not label-free, and never used by CuMa or TTRL: ``reward.kind=gold`` exists so that experiments (``repro``)
    can show what the same trainer does when the reward is right, i.e. whether a failure is the label-free reward's
    or the pipeline's. The gold answers come from the caller (keyed by prompt id), never from the training dataset.
    """

    __name__ = "gold_answer"

    def __init__(self, gold: dict[str, str]) -> None:
        self.gold = gold

    def __call__(self, completions: Sequence[Any], id: Sequence[Any], **_: Any) -> list[float | None]:
        rewards: list[float | None] = []
        for completion, prompt_id in zip(completions, id, strict=True):
            gold = self.gold.get(str(prompt_id))
            answer = extract_answer(completion_text(completion))
            if gold is None:
                rewards.append(None)
            else:
                rewards.append(float(answer is not None and answers_equivalent(answer, gold)))
        return rewards
