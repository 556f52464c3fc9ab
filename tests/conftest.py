"""Shared fixtures: tiny models built from a config at test time (no hub)."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_policy():
    """A freshly initialised 2-layer, hidden-64 Qwen2 with the embedded byte-level tokenizer."""
    from cuma_lite.models.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, seed=0)
    return model, tokenizer


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need CUDA: skipped (with the reason shown by ``-ra``) where there is none."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
