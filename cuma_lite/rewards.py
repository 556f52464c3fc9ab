"""Rewards as TRL reward functions. Pure: strings in, floats (or ``None``) out.

:class:`MajorityVoteReward` is TTRL's reward with CuMa's no-majority mask: a completion earns 1.0 when its answer
agrees with its group's pseudo-label, 0.0 otherwise, and ``None`` when the group is masked. Each call also leaves
one :class:`VoteBatch`, the votes of that generation batch, which the trainer takes (once) to remove the masked
groups from the loss. Gold answers never reach it: it reads only the completions and the ``id``/``level`` columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cuma_lite.answers import extract_answer, grade
from cuma_lite.shaping import Shaping, group_advantages, group_scores
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
    """The vote over the group's answers and the pool's extra ones."""
    scores: tuple[float | None, ...] = ()
    """Per completion: its reward (None when the group is masked)."""
    centred: bool = True
    """Whether GRPO centres ``scores`` into advantages (else they are the advantages)."""
    extra: tuple[str | None, ...] = ()
    """Answers of the pool's extra, untrained samples."""
    greedy_label: str | None = None
    """With ``reward.label=greedy``: the policy's greedy answer, the label the scores used (None: it gave none)."""
    labelled_by_greedy: bool = False
    label_share: float | None = None
    """The label's share of the pool as the scores measured it (None: the vote's own share)."""

    @property
    def label(self) -> str | None:
        """The pseudo-label the group was rewarded against."""
        return self.greedy_label if self.labelled_by_greedy else self.vote.label

    @property
    def agreement(self) -> float:
        """The label's share of the group's answers (the pool's extra ones included, unparseable ones counted):
        label-free, how settled the prompt is (the band curriculum's signal). A masked vote: its largest class's."""
        return self.vote.share if self.label_share is None else self.label_share

    @property
    def informative(self) -> bool:
        """Whether the group's completions get any advantage (unmasked, and not all scored alike when centred)."""
        if self.vote.masked:
            return False
        values = [s for s in (self.scores or self.vote.rewards) if s is not None]
        return len(set(values)) > 1 if self.centred else any(values)


def completion_text(completion: Any) -> str:
    """A completion as text: TRL passes a string, or a list of chat messages for conversational prompts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def _identity(items: list[Any]) -> list[Any]:
    return items


PoolSampler = Callable[[list[Any]], list[tuple[list[str | None], str | None]]]
"""Prompts (one per group) -> per prompt: the answers of its extra, untrained samples (``vote.pool_size``), and the
policy's greedy answer when the shaping's label is the greedy one (else None)."""


@dataclass(frozen=True)
class VoteBatch:
    """The votes of one generation batch: what the reward hands the trainer."""

    groups: list[GroupVote]
    """Every group of the (gathered, multi-process) generation batch, in order."""
    local_ids: list[str]
    """Prompt id of each completion this process scored (checks the record belongs to the batch at hand)."""
    local_masked: list[bool]
    """Per local completion: whether its group is masked (removed from the loss)."""
    local_advantages: list[float] | None = None
    """Per local completion: its advantage, when it is not TRL's centred reward (``reward.center=false`` or
    ``reward.consolidate``; :func:`~cuma_lite.shaping.group_advantages`)."""


class MajorityVoteReward:
    """TRL reward function: 1 for agreeing with the group's majority answer, 0 otherwise, None when masked.

    Groups are contiguous in TRL's reward batch (``[k*G:(k+1)*G]`` is one prompt). With several processes a group
    can be split across them, so the answers are gathered (``gather``) and every process votes over the whole
    generation batch, then keeps its own slice: the votes equal those of a single process.

    >>> reward = MajorityVoteReward(4, min_share=0.5)
    >>> reward(["\\boxed{3}", "\\boxed{3}", "\\boxed{1}", "\\boxed{3}"], id=["p"] * 4)
    [1.0, 1.0, 0.0, 1.0]
    >>> reward(["\\boxed{1}", "\\boxed{2}", "\\boxed{1}", "\\boxed{2}"], id=["q"] * 4)  # a 2-2 tie: masked
    [None, None, None, None]
    >>> reward.take_votes(["q"] * 4).local_masked
    [True, True, True, True]
    """

    __name__ = "majority_vote"  # TRL names the reward's metrics after it

    def __init__(
        self,
        num_generations: int,
        *,
        min_share: float = 0.5,
        shaping: Shaping | None = None,
        pool: PoolSampler | None = None,
        gather: Gather = _identity,
        process_index: int = 0,
    ) -> None:
        self.num_generations = num_generations
        self.min_share = min_share
        self.shaping = shaping or Shaping()
        self.pool = pool
        self.gather = gather
        self.process_index = process_index
        self._votes: VoteBatch | None = None

    def __call__(
        self,
        completions: Sequence[Any],
        id: Sequence[Any] | None = None,
        level: Sequence[Any] | None = None,
        prompts: Sequence[Any] | None = None,
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
        pools = self._pool_answers(prompts, n_local, len(answers)) if self.pool else {}
        rewards: list[float | None] = []
        # the shaping's own advantages, when TRL's centring is not what it asks (no centring, consolidation)
        own = bool(self.shaping.consolidate) or not self.shaping.center
        advantages: list[float] = []
        groups = []
        for k, start in enumerate(range(0, len(answers), g)):
            group, (more, greedy) = answers[start : start + g], pools.get(k, ([], None))
            vote = majority_vote([*group, *more], min_share=self.min_share)
            scores, share = vote.rewards[:g], vote.share
            advantages.extend([0.0] * g)  # 0 for a masked group; an unmasked one is filled in below if used
            if not (vote.masked or self.shaping.is_ttrl):
                scored = group_scores(group, more, self.shaping, greedy=greedy)
                scores, share = scored.scores, scored.share
                if own:
                    advantages[-g:] = group_advantages(scored, self.shaping)
            by_greedy = self.shaping.label == "greedy" and not vote.masked
            span = slice(start, start + g)
            groups.append(
                GroupVote(str(ids[start]), levels[start], tuple(texts[span]), tuple(group), vote, tuple(scores),
                          self.shaping.center, tuple(more), greedy if by_greedy else None, by_greedy, share)
            )  # fmt: skip
            rewards.extend(scores)
        mine = slice(self.process_index * n_local, (self.process_index + 1) * n_local)
        local_ids = [str(i) for i in ids[mine]]
        self._votes = VoteBatch(
            groups, local_ids, [r is None for r in rewards[mine]], advantages[mine] if own else None
        )
        return rewards[mine]

    def _pool_answers(
        self, prompts: Sequence[Any] | None, n_local: int, n_total: int
    ) -> dict[int, tuple[list[str | None], str | None]]:
        """Per group index, its pool: each process samples for the groups that start on it, then all share."""
        if prompts is None:
            raise ValueError(
                "vote.pool_size > 0 needs the prompts: TRL passes them to reward functions as prompts=."
            )
        g, offset = self.num_generations, self.process_index * n_local
        starts = [k for k in range(n_total // g) if offset <= k * g < offset + n_local]
        sampled = self.pool([prompts[k * g - offset] for k in starts]) if starts else []  # type: ignore[misc]
        return dict(self.gather(list(zip(starts, sampled, strict=True))))

    def take_votes(self, expected_ids: Sequence[Any]) -> VoteBatch:
        """The votes of the batch just scored, once. ``expected_ids``: the prompt id of each local completion of
        the batch the caller is working on; a missing record, or one made for other prompts, is an error."""
        votes, self._votes = self._votes, None
        if votes is None:
            raise RuntimeError(
                "no vote record for this batch: the majority-vote reward did not run since the last batch (is it "
                "in reward_funcs?), or its record was already taken."
            )
        if votes.local_ids != [str(i) for i in expected_ids]:
            raise RuntimeError(
                "the vote record belongs to another batch (its prompt ids differ from the batch being trained)."
            )
        return votes


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
            rewards.append(None if gold is None else float(grade(answer, gold).correct))
        return rewards
