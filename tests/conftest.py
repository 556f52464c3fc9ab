"""Shared fixtures: tiny models built from a config at test time (no hub), and the benchmark data."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "math500.jsonl").exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (the repo's ../shared/data)")
    return SHARED_DATA


@pytest.fixture
def tiny_policy():
    """A freshly initialised 2-layer, hidden-64 Qwen2 with the embedded byte-level tokenizer."""
    from cuma_lite.models.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, seed=0)
    return model, tokenizer
