"""The transfer forecast on a small random model: its gradient is the GRPO loss's, and its ratio is exact where it
can be computed by hand (gold's own update: 1; the opposite: -1; none: 0; any positive scale: the same)."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from cuma_lite.models.tiny import build_model  # noqa: E402
from cuma_lite.transfer import Transfer, adam_direction, policy_gradient, transfer_forecast  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return build_model(
        40, hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32, seed=0, eos_token_id=39
    ).eval()


def sequences(n_prompts=12, group=4, seed=0):
    rng = random.Random(seed)
    return [
        [([rng.randrange(40) for _ in range(rng.randint(2, 5))], [rng.randrange(40) for _ in range(rng.randint(1, 6))])
         for _ in range(group)]
        for _ in range(n_prompts)
    ]  # fmt: skip


def test_the_gradient_is_the_dapo_loss_of_each_sequence_alone(model):
    """Right-padded batch = the sum of one-sequence losses: a shifted target mask or padding that leaks fails."""
    seqs = [([1, 2, 3], [4, 5]), ([6], [7, 8, 9, 10]), ([11, 12], [13])]
    advantages = [0.5, -1.0, 2.0]
    batched = policy_gradient(model, [(p, c, a) for (p, c), a in zip(seqs, advantages, strict=True)])
    tokens = sum(len(c) for _, c in seqs)
    model.zero_grad(set_to_none=True)
    loss = 0.0
    for (p, c), a in zip(seqs, advantages, strict=True):
        ids = torch.tensor([p + c])
        logp = torch.log_softmax(model(input_ids=ids).logits[0, len(p) - 1 : -1], -1)
        loss = loss - a * logp.gather(1, torch.tensor(c)[:, None]).sum() / tokens
    loss.backward()
    alone = torch.cat([q.grad.flatten() for q in model.parameters()])
    assert torch.allclose(batched, alone, atol=1e-6)


def test_no_advantage_no_gradient(model):
    assert not policy_gradient(model, [([1, 2], [3, 4], 0.0)]).any()


def test_adam_direction_is_scale_free():
    steps = torch.randn(5, 7)
    assert torch.allclose(adam_direction(3 * steps), adam_direction(steps))
    assert torch.allclose(adam_direction(-steps), -adam_direction(steps))


def test_exact_ratios(model):
    seqs = sequences()
    rng = random.Random(1)
    gold_adv = {j: [rng.choice([-0.5, 0.5]) for _ in range(4)] for j in range(12)}
    forecasts = transfer_forecast(
        model,
        seqs[0::2],
        seqs[1::2],
        {
            "gold-again": lambda j: gold_adv[2 * j],
            "opposite": lambda j: [-a for a in gold_adv[2 * j]],
            "tripled": lambda j: [3 * a for a in gold_adv[2 * j]],
            "none": lambda j: [0.0] * 4,
        },
        lambda j: gold_adv[2 * j],
        lambda j: gold_adv[2 * j + 1],
        step_prompts=2,
        boot=50,
    )
    by = {f.setting: f for f in forecasts}
    assert by["gold-again"].transfer == pytest.approx(1.0) and by["gold-again"].verdict() == "will help"
    assert by["opposite"].transfer == pytest.approx(-1.0) and by["opposite"].verdict() == "will not help"
    assert by["tripled"].transfer == pytest.approx(1.0)
    assert by["none"].transfer == 0.0 and by["none"].verdict() == "unclear"


def test_micro_batches_add_up_to_the_whole(model):
    seqs = [(p, c, 0.5 - i % 3) for i, group in enumerate(sequences()) for p, c in group]
    assert torch.allclose(
        policy_gradient(model, seqs, micro_batch=5), policy_gradient(model, seqs), atol=1e-6
    )


def test_verdict_is_the_interval_sign():
    assert Transfer("a", 0.3, (0.01, 0.6)).verdict() == "will help"
    assert Transfer("a", 0.3, (-0.01, 0.6)).verdict() == "unclear"
    assert Transfer("a", -0.3, (-0.6, -0.01)).verdict() == "will not help"
