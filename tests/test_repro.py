"""A reduced `cuma-lite repro` end to end: the grid runs and its artefacts have the right structure."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cuma_lite.cli import app
from cuma_lite.repro import BASES, claims, grid

pytestmark = pytest.mark.slow

TINY = ["train.max_steps=1", "train.prompts_per_step=2", "rollout.max_new_tokens=24", "eval.per_level=1",
        "data.synth_per_level=4", "train.min_groups_per_update=0"]  # fmt: skip


def test_reduced_repro_writes_its_artefacts(tmp_path, monkeypatch):
    out = tmp_path / "repro"
    methods = ["ttrl", "cuma", "intuitor"]
    args = ["repro", "--quick", "--out", str(out), "--methods", ",".join(methods),
            *(x for o in TINY for x in ("--set", o))]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == len(BASES) * len(methods)
    assert {(r["base"], r["method"]) for r in results["summary"]} == {(b, m) for b in BASES for m in methods}
    for row in results["summary"]:
        assert set(row["per_level_after"]) == {"1", "2", "3", "4", "5"}
        assert row["seeds"] == 1 and len(row["after"]) == 2
    weak = [r["before"] for r in results["runs"] if r["base"] == "weak"]
    strong = [r["before"] for r in results["runs"] if r["base"] == "strong"]
    assert len(set(weak)) == 1 and len(set(strong)) == 1  # every run of a base starts from the same weights
    assert set(results["claims"]) == {"a", "b", "c"}
    table = (out / "results.md").read_text()
    assert table.count("\n| weak |") == len(methods) and "± " in table and "claim (c)" in table
    assert (out / "results.png").stat().st_size > 10_000
    # finished runs are reused: a second call starts no training at all and gives the same results
    import cuma_lite.repro

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(cuma_lite.repro.subprocess, "run", no_training)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "results.json").read_text())["runs"] == results["runs"]


def test_a_failed_run_is_reported_with_its_log(tmp_path):
    args = ["repro", "--quick", "--out", str(tmp_path), "--methods", "gold", "--bases", "weak",
            "--set", "data.synth_per_level=1", "--set", "eval.per_level=0", "--set", "train.max_steps=1",
            "--set", "train.prompts_per_step=2", "--set", "data.synth_levels=1", "--set", "model.max_seq_length=20"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "repro run weak-gold-s0 failed" in result.output and "weak-gold-s0.log" in result.output


def test_unknown_method_is_a_usage_error():
    result = CliRunner().invoke(app, ["repro", "--methods", "ttrl,grpo"])
    assert result.exit_code != 0 and "unknown method" in result.output


def test_claims_are_judged_on_mean_and_std():
    def row(base, method, change, std, after):
        return {"base": base, "method": method, "seeds": 3, "change": [change, std], "after": [after, std]}

    verdicts = claims([row("strong", "ttrl", 0.05, 0.01, 0.5), row("weak", "ttrl", -0.01, 0.02, 0.26),
                       row("weak", "cuma", 0.01, 0.005, 0.27)])  # fmt: skip
    assert "holds" in verdicts["a"] and "does not hold" not in verdicts["a"]
    assert "does not hold" in verdicts["b"]
    assert "CuMa does not beat TTRL" in verdicts["c"] and "stays at or above" in verdicts["c"]
    better = claims([row("weak", "ttrl", -0.05, 0.01, 0.23), row("weak", "cuma", -0.01, 0.01, 0.27)])
    assert "CuMa beats TTRL" in better["c"] and "ends below" in better["c"]
    assert [c.name for c in grid(2, ["weak"], ["cuma"])] == ["weak-cuma-s0", "weak-cuma-s1"]
