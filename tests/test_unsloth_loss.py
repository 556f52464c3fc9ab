"""The no-majority mask under Unsloth's *real* GRPO loss (unsloth / unsloth_zoo 2026.10.9), executed on a CPU.

Unsloth's loss rebuilds the completion mask from the token ids, so zeroing ``completion_mask`` alone lets a masked
group back in (docs/gpu-path.md, section 2). ``apply_vote_mask`` also zeroes the rows' ``tool_mask``, which Unsloth
multiplies in: a masked group must then give exactly the loss and gradients of the batch without it, for ``dapo``
and ``bnpo``, beta 0 and 0.1, with zero and non-zero advantages on the masked rows, and with an entropy bonus
(Unsloth's own, ``grpo_entropy_bonus_weights``). The child also runs the
pre-fix mask (``completion_mask`` only), which must leak, so the comparison is shown able to fail.

Needs unsloth installed without its GPU dependencies (``make install`` does it: ``pip install --no-deps``); it runs
in a child process because Unsloth's CPU switch rebinds ``trl.GRPOTrainer`` for the whole process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("unsloth") is None, reason="unsloth is not installed"),
]


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[dict]:
    env = {
        **os.environ,
        "UNSLOTH_ALLOW_CPU": "1",  # Unsloth's own switch for running its GPU code path on a CPU (its CI)
        "UNSLOTH_COMPILE_DISABLE": "1",  # the same numbers as the compiled path, minutes faster on a CPU
        "UNSLOTH_COMPILE_LOCATION": str(tmp_path_factory.mktemp("unsloth_compiled")),
        "UNSLOTH_GRPO_SEQ_PACKING": "0",  # packing reorders float sums: exact comparisons need it off
        "UNSLOTH_DISABLE_STATISTICS": "1",
        "OMP_NUM_THREADS": "1",
    }
    child = Path(__file__).with_name("unsloth_mask_child.py")
    done = subprocess.run(
        [sys.executable, str(child)], env=env, capture_output=True, text=True, timeout=600, cwd=child.parent
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 10, done.stdout[-2000:]
    return rows


def test_a_masked_group_is_a_removed_group_under_unsloths_loss(cases):
    for case in cases:
        masked = case["masked"]
        assert masked["dloss"] < 1e-6 and masked["dgrad"] < 1e-7 * max(1.0, masked["grad"]), case


def test_the_entropy_bonus_acts_under_unsloths_loss(cases):
    """The entropy cases test something: Unsloth's loss applies ``entropy_coef`` (the gradient of the batch without
    the masked group changes with it), so their exactness covers the bonus too."""
    grad = {(c["loss_type"], c["beta"], c["entropy_coef"]): c["masked"]["grad"] for c in cases
            if c["advantages"] == "nonzero"}  # fmt: skip
    assert grad[("dapo", 0.1, 0.5)] != grad[("dapo", 0.1, 0.0)]
    assert grad[("bnpo", 0.0, 0.5)] != grad[("bnpo", 0.0, 0.0)]


def test_zeroing_completion_mask_alone_leaks_under_unsloths_loss(cases):
    """What cuma-lite did before: exact only for dapo, beta 0 and a zero advantage (Unsloth rebuilds the mask)."""
    leaks = {
        (c["advantages"], c["loss_type"], c["beta"], c["entropy_coef"])
        for c in cases
        if c["completion_mask_only"]["dloss"] > 1e-6 or c["completion_mask_only"]["dgrad"] > 1e-6
    }
    assert leaks == {
        (a, lt, b, 0.0) for a in ("zero", "nonzero") for lt in ("dapo", "bnpo") for b in (0.0, 0.1)
    } - {("zero", "dapo", 0.0, 0.0)} | {("nonzero", "dapo", 0.1, 0.5), ("nonzero", "bnpo", 0.0, 0.5)}
