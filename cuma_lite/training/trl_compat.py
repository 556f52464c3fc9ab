"""The one place where cuma-lite patches TRL: a pure-torch fallback for trl 1.15's fused log-prob kernel.

trl 1.15.0 computes GRPO's per-token log-probabilities through ``trl.kernels.ChunkedLogProbFunction``, a Triton
kernel. CPU builds of torch ship no Triton, so trl sets ``trl.trainer.utils._ChunkedLogProbFunction = None`` and
every GRPO step crashes with ``'NoneType' object has no attribute 'apply'`` (trl 1.16 guards this itself).
:func:`install_logprob_fallback` puts :class:`TorchChunkedLogProb` in that slot -- only when the slot is empty, so
a machine with Triton keeps trl's kernel. The replacement materialises the ``[N, V]`` logits, which is fine for
the small vocabularies it runs with on a CPU, and lets autograd do the backward.

Outputs match the kernel's contract (``trl/kernels/chunked_logprob.py``, ``ChunkedLogProbFunction.forward``):
``(log_probs, entropy, log_sum_sq_probs, mean_logits, is_top1)``, each ``[N]``, the optional ones ``None`` unless
named in ``outputs``; logits are transformed as ``softcap(z * logit_scale) / temperature``.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


class TorchChunkedLogProb:
    """Drop-in for ``ChunkedLogProbFunction`` (only ``.apply`` is used by trl), in plain differentiable torch."""

    @staticmethod
    def apply(
        hidden: torch.Tensor,  # [N, H]
        weight: torch.Tensor,  # [V, H]
        bias: torch.Tensor | None,  # [V]
        targets: torch.Tensor,  # [N]
        temperature: float,
        chunk_size: int,  # unused: the whole vocabulary is one chunk here
        final_logit_softcapping: float | None = None,
        logit_scale: float = 1.0,
        outputs: tuple[str, ...] = ("log_probs",),
    ) -> tuple[torch.Tensor, ...]:
        z = hidden.float() @ weight.float().t()  # [N, V]
        if bias is not None:
            z = z + bias.float()
        z = z * logit_scale
        if final_logit_softcapping is not None:
            z = final_logit_softcapping * torch.tanh(z / final_logit_softcapping)
        z = z / temperature
        log_p = torch.log_softmax(z, dim=-1)  # [N, V]
        log_probs = log_p.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)  # [N]
        entropy = -(log_p.exp() * log_p).sum(-1) if "entropy" in outputs else None
        with torch.no_grad():  # the kernel marks these three non-differentiable
            log_sum_sq = torch.logsumexp(2 * log_p, dim=-1) if "log_sum_sq_probs" in outputs else None
            mean_logits = z.mean(-1) if "mean_logits" in outputs else None
            is_top1 = z.argmax(-1) == targets if "is_top1" in outputs else None
        return log_probs, entropy, log_sum_sq, mean_logits, is_top1


def install_logprob_fallback() -> bool:
    """Fill trl's empty fused-log-prob slot with :class:`TorchChunkedLogProb`. Returns True if it did.

    Idempotent; a no-op where Triton is available (the slot is then trl's own kernel) or where a newer trl no
    longer has the slot.
    """
    import trl.trainer.utils as trl_utils

    if not hasattr(trl_utils, "_ChunkedLogProbFunction") or trl_utils._ChunkedLogProbFunction is not None:
        return False
    trl_utils._ChunkedLogProbFunction = TorchChunkedLogProb
    logger.debug("Triton is unavailable: using cuma-lite's pure-torch log-prob fallback for trl.")
    return True
