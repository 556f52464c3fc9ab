"""Shared fixtures: tiny models built from a config at test time (no hub), and the scripts/ files as modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture
def tiny_policy():
    """A freshly initialised 2-layer, hidden-64 Qwen2 with the embedded byte-level tokenizer."""
    from cuma_lite.models.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, seed=0)
    return model, tokenizer


@pytest.fixture
def script():
    """``script("device_check")``: a file of scripts/ imported as a module (scripts/ is not a package)."""

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


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
