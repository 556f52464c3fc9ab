"""The mask's loss arithmetic and the gradient bank, on hand-computed numbers (no trainer, no model)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cuma_lite.rewards import GroupVote  # noqa: E402
from cuma_lite.training.mask import GradientBank, informative, loss_tokens, mask_rows  # noqa: E402
from cuma_lite.voting import majority_vote  # noqa: E402


def test_masked_rows_are_zeroed_and_the_normaliser_counts_the_rest():
    completion_mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 1, 1]])  # [B=4, T=3]
    masked = [False, True, False, True]
    kept = mask_rows(completion_mask, masked)
    assert kept.tolist() == [[1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert completion_mask.tolist()[1] == [1, 1, 1]  # a new tensor: TRL's own is left as it was
    assert int(loss_tokens(kept)) == 3
    tool_mask = torch.tensor([[1, 0, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])
    assert int(loss_tokens(kept, tool_mask)) == 2


def test_a_masked_dapo_loss_is_the_loss_without_the_masked_rows():
    """DAPO: sum of per-token losses over the mask / number of mask tokens, with hand-picked numbers."""
    per_token = torch.tensor([[1.0, 2.0, 9.0], [5.0, 5.0, 5.0], [3.0, 7.0, 7.0]])  # [B=3, T=3]
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    kept = mask_rows(mask, [False, True, False])
    dapo = (per_token * kept).sum() / loss_tokens(kept)
    assert float(dapo) == pytest.approx((1 + 2 + 3) / 3)  # rows 0 and 2 only: 6 / 3 tokens


def test_the_bank_releases_the_token_weighted_mean_of_its_steps():
    """Two parameters; step 1 (3 tokens, 1 group) banks, step 2 (1 token, 1 group) releases (3 g1 + 1 g2) / 4."""
    model = torch.nn.Linear(1, 1, bias=True)  # two parameters: weight [1, 1] and bias [1]
    bank = GradientBank(min_groups=2)

    model.weight.grad, model.bias.grad = torch.tensor([[4.0]]), torch.tensor([8.0])
    assert bank.add(model, tokens=3, groups=1) is False
    assert model.weight.grad is None and model.bias.grad is None  # the optimiser skips the step

    model.weight.grad, model.bias.grad = torch.tensor([[0.0]]), torch.tensor([-4.0])
    assert bank.add(model, tokens=1, groups=1) is True
    assert model.weight.grad.item() == pytest.approx((3 * 4 + 1 * 0) / 4)  # 3.0
    assert model.bias.grad.item() == pytest.approx((3 * 8 + 1 * -4) / 4)  # 5.0
    assert (bank.tokens, bank.groups, bank.grads) == (0.0, 0, {})  # emptied for the next round


def test_an_all_masked_step_adds_nothing_to_the_bank():
    model = torch.nn.Linear(1, 1)
    bank = GradientBank(min_groups=1)
    model.weight.grad, model.bias.grad = torch.tensor([[1.0]]), torch.tensor([1.0])
    assert bank.add(model, tokens=0, groups=0) is False
    assert bank.grads == {} and model.weight.grad is None


def test_the_bank_survives_a_checkpoint():
    model = torch.nn.Linear(1, 1)
    bank = GradientBank(min_groups=2)
    model.weight.grad, model.bias.grad = torch.tensor([[2.0]]), torch.tensor([1.0])
    bank.add(model, tokens=2, groups=1)
    restored = GradientBank(min_groups=2)
    restored.load_state_dict(model, bank.state_dict(model))
    model.weight.grad, model.bias.grad = torch.tensor([[4.0]]), torch.tensor([1.0])
    assert restored.add(model, tokens=2, groups=1) is True
    assert model.weight.grad.item() == pytest.approx(3.0)


def _group(answers: list[str | None], min_share: float) -> GroupVote:
    return GroupVote(
        "p", 1, tuple(a or "" for a in answers), tuple(answers), majority_vote(answers, min_share=min_share)
    )


def test_informative_groups_are_unmasked_and_not_unanimous():
    assert informative(_group(["1", "1", "1", "2"], 0.5), majority_only=True)
    assert not informative(_group(["1", "1", "1", "1"], 0.5), majority_only=True)  # zero advantage everywhere
    assert informative(
        _group(["1", "1", "1", "1"], 0.5), majority_only=False
    )  # another reward may still vary
    assert not informative(_group(["1", "2", "1", "2"], 0.5), majority_only=False)  # masked
