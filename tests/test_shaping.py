"""The label-free reward family (cuma_lite.shaping) on hand-computed groups, and the forecast's arithmetic."""

from __future__ import annotations

import pytest

from cuma_lite.forecast import PromptSamples, Setting, gold_alignment, mode_shift_budget, setting_advantages
from cuma_lite.rewards import MajorityVoteReward
from cuma_lite.shaping import Shaping, group_scores


def test_ttrl_is_the_default_and_matches_the_vote():
    assert Shaping().is_ttrl
    scores = group_scores(["4", "4", "5", None, "4", "6", "4", "5"], [], Shaping())
    assert (scores.scores, scores.label, scores.share) == ([1.0, 1.0, 0, 0, 1.0, 0, 1.0, 0], "4", 0.5)


def test_the_ramp_grades_the_positive_reward_by_the_label_share():
    ramp = Shaping(positive=1.0, ramp_from=0.5, ramp_to=1.0)
    assert [ramp.ramp(s) for s in (0.25, 0.5, 0.75, 1.0)] == [0.0, 0.0, 0.5, 1.0]
    step = Shaping(positive=1.0, ramp_from=0.5, ramp_to=0.5)  # ramp_to <= ramp_from: a step at ramp_from
    assert [step.ramp(s) for s in (0.49, 0.5)] == [0.0, 1.0]
    # 3 of 4 agree: share 0.75, half of the positive reward
    assert group_scores(["1", "1", "1", "2"], [], ramp).scores == [0.5, 0.5, 0.5, 0.0]


def test_rare_and_missing_answers_are_penalised_over_the_pool():
    negatives = Shaping(positive=0.0, negative=1.0, rare_share=0.125, center=False)
    trained = ["3", "3", "7", None]
    extra = ["3", "3", "3", "8", "7", "3"]  # 7 is seen twice in 10 (0.2 > 0.125): not rare; None always is
    assert group_scores(trained, extra, negatives).scores == [0.0, 0.0, 0.0, -1.0]
    alone = group_scores(trained, [], negatives)  # in the 4 trained alone, 7 is 1 of 4 = 0.25: still not rare
    assert alone.scores == [0.0, 0.0, 0.0, -1.0]
    rare = Shaping(positive=0.0, negative=1.0, rare_share=0.25, center=False)
    assert group_scores(trained, [], rare).scores == [0.0, 0.0, -1.0, -1.0]


def test_the_reward_uses_the_pool_and_hands_uncentred_advantages_to_the_trainer():
    pool_calls = []

    def pool(prompts):
        pool_calls.append(list(prompts))
        return [(["3", "3", "3", "9"], None) for _ in prompts]

    shaping = Shaping(positive=0.5, negative=1.0, rare_share=0.125, center=False)
    reward = MajorityVoteReward(4, min_share=0.0, shaping=shaping, pool=pool)
    completions = ["\\boxed{3}", "\\boxed{3}", "\\boxed{5}", "no answer"]
    rewards = reward(completions, id=["p"] * 4, prompts=["Q: 1+2?"] * 4)
    assert pool_calls == [["Q: 1+2?"]]  # one pool a group
    # pool of 8: 3 x5 (share 0.625, the label), 5 x1 and None (rare), 9 x1
    assert rewards == [0.5, 0.5, -1.0, -1.0]
    votes = reward.take_votes(["p"] * 4)
    assert votes.local_advantages == [0.5, 0.5, -1.0, -1.0] and votes.local_masked == [False] * 4
    assert votes.groups[0].vote.share == pytest.approx(5 / 8) and votes.groups[0].informative


def test_the_greedy_label_rewards_agreement_with_it_and_is_what_the_logs_see():
    """The plurality is 3, the greedy answer 5: only the 5 is rewarded, and the group's label is 5, not 3."""
    reward = MajorityVoteReward(
        4, min_share=0.0, shaping=Shaping(label="greedy"), pool=lambda ps: [([], "5")] * len(ps)
    )
    completions = ["\\boxed{3}", "\\boxed{3}", "\\boxed{5}", "\\boxed{3}"]
    assert reward(completions, id=["p"] * 4, prompts=["Q"] * 4) == [0.0, 0.0, 1.0, 0.0]
    (group,) = reward.take_votes(["p"] * 4).groups
    assert group.vote.label == "3" and group.label == "5" and group.scores == (0.0, 0.0, 1.0, 0.0)
    nobody = MajorityVoteReward(
        4, min_share=0.0, shaping=Shaping(label="greedy"), pool=lambda ps: [([], "7")]
    )
    assert nobody(completions, id=["p"] * 4, prompts=["Q"] * 4) == [0.0] * 4  # no sample agrees: no signal
    assert not nobody.take_votes(["p"] * 4).groups[0].informative


def test_consolidation_adds_an_uncentred_advantage_to_high_consensus_groups_only():
    """Three groups under the greedy label 3, consolidate 0.25 from a share of 3/4: the 3-of-4 group gets its centred
    advantages plus 0.25 on the agreeing completions; the unanimous group, whose centred advantages are all 0, gets
    only the bonus; the 2-of-4 group is GRPO's. The rewards TRL sees (and logs) stay the plain scores."""
    shaping = Shaping(label="greedy", consolidate=0.25, consolidate_share=0.75)
    reward = MajorityVoteReward(4, min_share=0.0, shaping=shaping, pool=lambda ps: [([], "3")] * len(ps))
    groups = [["3", "3", "5", "3"], ["3", "3", "3", "3"], ["3", "5", "3", "5"]]
    completions = [f"\\boxed{{{a}}}" for group in groups for a in group]
    ids = [f"p{k}" for k in range(3) for _ in range(4)]
    rewards = reward(completions, id=ids, prompts=["Q"] * 12)
    assert rewards == [1.0, 1.0, 0.0, 1.0] + [1.0] * 4 + [1.0, 0.0, 1.0, 0.0]
    assert reward.take_votes(ids).local_advantages == [
        *[0.5, 0.5, -0.75, 0.5],  # centred (0.25, 0.25, -0.75, 0.25) + 0.25 where the answer is the label
        *[0.25] * 4,  # unanimous: GRPO gives 0, consolidation 0.25
        *[0.5, -0.5, 0.5, -0.5],  # share 1/2 < 3/4: GRPO's own
    ]


def test_without_shaping_or_pool_the_reward_is_the_old_one():
    reward = MajorityVoteReward(4, min_share=0.5)
    assert reward(["\\boxed{3}", "\\boxed{3}", "\\boxed{1}", "\\boxed{3}"], id=["p"] * 4) == [
        1.0,
        1.0,
        0.0,
        1.0,
    ]
    assert reward.take_votes(["p"] * 4).local_advantages is None  # TRL centres, as before


def prompt(samples, gold, greedy):
    return PromptSamples(samples, greedy, gold)


def test_advantages_of_a_setting_for_one_group():
    ttrl = Setting("ttrl", group=4)
    assert setting_advantages(ttrl, ["1", "1", "1", "2"], [], [True, True, True, False]) == [
        0.25,
        0.25,
        0.25,
        -0.75,
    ]
    masked = Setting("cuma", group=4, min_share=0.75)
    assert setting_advantages(masked, ["1", "1", "1", "2"], [], [True] * 4) == [0.0] * 4  # 3/4 is not > 0.75
    gold = Setting("gold", group=4, gold=True)
    assert setting_advantages(gold, ["1", "2", "3", "4"], [], [False, True, False, False]) == [
        -0.25,
        0.75,
        -0.25,
        -0.25,
    ]


def test_gold_alignment_of_gold_is_one_and_of_a_wrong_vote_is_negative():
    right_rare = [prompt(["7"] * 6 + ["5", "5"], "5", "7") for _ in range(20)]  # the label (7) is wrong
    gold = gold_alignment(right_rare, Setting("gold", group=8, gold=True), resamples=1)
    assert gold.alignment == pytest.approx(1.0)
    ttrl = gold_alignment(right_rare, Setting("ttrl", group=8), resamples=1)
    assert ttrl.alignment < 0 and ttrl.verdict() == "will not help"


def test_gold_alignment_weights_scale_each_prompts_push_and_not_golds():
    """By hand, groups of 8 out of 8 samples (every resample is the same group): the plurality label is right on the
    first prompt (advantages along gold's, cross = gold's own = 7/8 per answer pair) and wrong on the second (cross
    = -7/8). Uniform, they cancel; weights 1.5 / 0.5 leave (1.5 - 0.5) * 7/8 over gold's 2 * 7/8."""
    right = prompt(["5"] * 7 + ["6"], "5", "5")
    wrong = prompt(["6"] * 7 + ["5"], "5", "6")
    ttrl = Setting("ttrl", group=8)
    assert gold_alignment([right, wrong], ttrl, resamples=1).alignment == pytest.approx(0.0)
    weighted = gold_alignment([right, wrong], ttrl, resamples=1, weights=[1.5, 0.5])
    assert weighted.alignment == pytest.approx(0.5)
    same = gold_alignment([right, wrong], ttrl, resamples=1, weights=[1.0, 1.0])
    assert same == gold_alignment([right, wrong], ttrl, resamples=1)
    with pytest.raises(ValueError, match="one a prompt"):
        gold_alignment([right, wrong], ttrl, weights=[1.0])


def test_mode_shift_budget_counts_label_minus_greedy_on_the_kept_prompts():
    prompts = [
        prompt(["5"] * 5 + ["6"] * 3, "5", "6"),  # label right, greedy wrong: +1
        prompt(["6"] * 5 + ["5"] * 3, "5", "5"),  # label wrong, greedy right: -1
        prompt(["5"] * 8, "5", "5"),  # both right: 0
        prompt(
            ["4", "5", "6", "7", "8", "9", "1", "2"], "5", "5"
        ),  # share 1/8: a plurality, but gated at 0.5
    ]
    assert mode_shift_budget(prompts, 0.0) == pytest.approx((1 - 1 + 0 - 1) / 4)  # the last label is 4: wrong
    assert mode_shift_budget(prompts, 0.5) == pytest.approx(0.0)


def test_the_greedy_answer_can_be_the_label():
    greedy = Shaping(label="greedy")
    scores = group_scores(["5", "7", "7", "7"], [], greedy, greedy="5")
    assert scores.scores == [1.0, 0.0, 0.0, 0.0] and scores.label == "5" and scores.share == 0.25
    unseen = group_scores(["7", "7", "7", "7"], [], greedy, greedy="5")  # greedy's answer is not in the group
    assert unseen.scores == [0.0] * 4 and unseen.share == 0.0
    assert group_scores(["7"] * 4, [], greedy, greedy=None).scores == [0.0] * 4
