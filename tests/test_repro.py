"""A reduced `cuma-lite repro` end to end: the grid runs and its artefacts have the right structure."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cuma_lite.cli import app
from cuma_lite.repro import BASES, METHODS

pytestmark = pytest.mark.slow


def test_reduced_repro_writes_its_artefacts(tmp_path):
    out = tmp_path / "repro"
    tiny = ["train.max_steps=1", "train.prompts_per_step=2", "rollout.max_new_tokens=24", "eval.per_level=1",
            "data.synth_per_level=4"]  # fmt: skip
    args = ["repro", "--quick", "--out", str(out), *(x for o in tiny for x in ("--set", o))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == len(BASES) * len(METHODS)
    assert {(r["base"], r["method"]) for r in results["summary"]} == {(b, m) for b in BASES for m in METHODS}
    for row in results["summary"]:
        assert set(row["per_level_after"]) == {"1", "2", "3", "4", "5"}
        assert row["seeds"] == 1 and len(row["after"]) == 2
    weak = [r["before"] for r in results["runs"] if r["base"] == "weak"]
    strong = [r["before"] for r in results["runs"] if r["base"] == "strong"]
    assert len(set(weak)) == 1 and len(set(strong)) == 1  # every run of a base starts from the same weights
    table = (out / "results.md").read_text()
    assert table.count("\n| weak |") == len(METHODS) and "± " in table
    assert (out / "results.png").stat().st_size > 10_000
    # finished runs are reused: a second call trains nothing and gives the same results
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0
    assert json.loads((out / "results.json").read_text())["runs"] == results["runs"]
