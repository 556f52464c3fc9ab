"""trl 1.15's fused log-prob kernel needs Triton; on CPU our pure-torch fallback takes its slot."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cuma_lite.training.trl_compat import TorchChunkedLogProb, install_logprob_fallback  # noqa: E402


def test_fallback_matches_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(6, 8, generator=g, requires_grad=True)
    weight = torch.randn(11, 8, generator=g, requires_grad=True)
    targets = torch.tensor([0, 3, 10, 5, 5, 1])
    outputs = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")
    logp, ent, lss, mean, top1 = TorchChunkedLogProb.apply(
        hidden, weight, None, targets, 0.7, 4, None, 2.0, outputs
    )
    z = (hidden @ weight.t()) * 2.0 / 0.7
    ref = torch.log_softmax(z, -1)
    assert torch.allclose(logp, ref[torch.arange(6), targets], atol=1e-6)
    assert torch.allclose(ent, -(ref.exp() * ref).sum(-1), atol=1e-6)
    assert torch.allclose(lss, torch.log((ref.exp() ** 2).sum(-1)), atol=1e-5)
    assert torch.allclose(mean, z.mean(-1), atol=1e-6)
    assert torch.equal(top1, z.argmax(-1) == targets)
    logp.sum().backward()
    assert hidden.grad is not None and weight.grad is not None
    # only log_probs when only log_probs is asked for
    assert TorchChunkedLogProb.apply(hidden, weight, None, targets, 1.0, 4)[1:] == (None, None, None, None)


def test_fallback_fills_only_an_empty_slot():
    import trl.trainer.utils as trl_utils

    install_logprob_fallback()
    assert trl_utils._ChunkedLogProbFunction is not None
    kernel = trl_utils._ChunkedLogProbFunction
    assert install_logprob_fallback() is False  # idempotent: a filled slot (ours or Triton's) is left alone
    assert trl_utils._ChunkedLogProbFunction is kernel


@pytest.mark.slow
def test_a_real_grpo_step_runs_on_cpu(tiny_policy, tmp_path):
    """Two TRL GRPO steps on CPU train the model: every parameter moves."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    install_logprob_fallback()
    model, tokenizer = tiny_policy
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = Dataset.from_list([{"prompt": f"Q: Compute {i}+{i + 1}.\nA: "} for i in range(8)])

    def reward(completions, **_):
        return [float(len(c) % 3) for c in completions]  # anything with variance within groups

    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        gradient_checkpointing=False,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=reward, args=args, train_dataset=data, processing_class=tokenizer
    )
    trainer.train()
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert len(changed) == len(before)
