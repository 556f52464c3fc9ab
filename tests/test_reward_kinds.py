"""The other reward kinds (Intuitor's self-certainty, RENT's negative entropy, the gold control) and the
gradient bank, checked against direct computations."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from cuma_lite.rewards import GoldAnswerReward  # noqa: E402
from cuma_lite.training.confidence import completion_scores, token_scores  # noqa: E402
from cuma_lite.training.mask import GradientBank  # noqa: E402


def test_token_scores_match_their_definitions():
    logits = torch.randn(3, 5, 11, generator=torch.Generator().manual_seed(0))
    p = logits.softmax(-1)
    uniform = torch.full_like(p, 1 / 11)
    kl_uniform_p = (uniform * (uniform.log() - p.log())).sum(-1)
    torch.testing.assert_close(token_scores(logits, "self_certainty"), kl_uniform_p)
    torch.testing.assert_close(token_scores(logits, "entropy"), (p * p.log()).sum(-1))
    flat = torch.zeros(1, 11)  # a uniform distribution: no certainty, maximal entropy
    assert token_scores(flat, "self_certainty").abs().item() < 1e-6
    assert token_scores(flat, "entropy").item() == pytest.approx(-math.log(11))
    with pytest.raises(ValueError, match="unknown"):
        token_scores(flat, "confidence")


def test_completion_scores_read_the_positions_that_sampled_each_token(tiny_policy):
    model, _ = tiny_policy
    prompts = [[5, 6, 7], [8, 9], [10]]
    completions = [[11, 12], [13, 14, 15, 16], [17]]
    got = completion_scores(model, prompts, completions, kind="self_certainty", temperature=0.7, batch_size=2)
    for p, c, score in zip(prompts, completions, got, strict=True):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p + c])).logits[0] / 0.7
        expected = token_scores(logits[len(p) - 1 : len(p) + len(c) - 1], "self_certainty").mean()
        assert score == pytest.approx(float(expected), rel=1e-4)


def test_gold_reward_grades_against_the_rows_gold_answer():
    reward = GoldAnswerReward({"a": "12", "b": "1/2"})
    got = reward(completions=["so 12", "= 0.5", "13", "x"], id=["a", "b", "a", "c"])
    assert got == [1.0, 1.0, 0.0, None]


def test_gradient_bank_releases_the_gradient_of_one_loss_over_all_banked_tokens():
    """Two steps, each normalised over its own tokens, banked: the released gradient equals the gradient of
    one loss normalised over both steps' tokens; before that the gradients are dropped."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x1, x2 = torch.randn(3, 4), torch.randn(5, 4)  # 3 and 5 "tokens"
    bank = GradientBank(min_groups=2)

    model(x1).sum().div(3).backward()
    assert bank.add(model, tokens=3, groups=1) is False
    assert all(p.grad is None for p in model.parameters())

    model(x2).sum().div(5).backward()
    assert bank.add(model, tokens=5, groups=1) is True
    released = [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    model(torch.cat([x1, x2])).sum().div(8).backward()
    for got, want in zip(released, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(got, want)
    assert bank.groups == 0 and bank.tokens == 0 and not bank.grads  # emptied for the next update
