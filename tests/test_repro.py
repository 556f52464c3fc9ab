"""`cuma-lite repro` on the ladder: a reduced grid end to end, the paired statistics, and the targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cuma_lite.cli import app
from cuma_lite.cli.train import parse_seeds
from cuma_lite.errors import ConfigError
from cuma_lite.grid_stats import Estimate, bootstrap, deltas, one_way, targets
from cuma_lite.repro import BASES, grid

TINY = ["train.max_steps=1", "train.prompts_per_step=2", "rollout.max_new_tokens=24", "eval.per_level=2",
        "data.synth_per_level=4", "train.min_groups_per_update=0", "vote.pool_size=0"]  # fmt: skip


@pytest.mark.slow
def test_reduced_repro_writes_its_artefacts_and_reuses_finished_runs(tmp_path, monkeypatch):
    out = tmp_path / "repro"
    methods = ["ttrl", "cuma", "gold"]
    args = ["repro", "--quick", "--out", str(out), "--split", "val", *(x for o in TINY for x in ("--set", o))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 2 * len(methods) and results["split"] == "val"
    assert {(r["base"], r["method"]) for r in results["summary"]} == {
        (b, m) for b in ("r1", "r5") for m in methods
    }
    for row in results["summary"]:
        assert len(row["change"]) == 3 and row["change"][1] <= row["change"][0] <= row["change"][2]
        if row["method"] != "ttrl":
            assert "vs_reference" in row
        assert row["rollout_tokens_per_step"] > 0 and row["seconds_per_step"] > 0
    befores = {(r["base"], r["before"]) for r in results["runs"]}
    assert len(befores) == 2  # every run of a base starts from the same weights and problems
    assert set(results["targets"]) == {"i_never_hurts", "ii_never_worse_than_ttrl", "iii_helps_lower_down",
                                       "iv_recovers_half_of_gold_at_the_top"}  # fmt: skip
    table = (out / "results.md").read_text()
    assert table.count("\n| r1 |") == len(methods) and "gold-normalised" in table
    assert (out / "results.png").stat().st_size > 10_000
    # finished runs are reused: a second call starts no training at all and gives the same results
    import cuma_lite.repro

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(cuma_lite.repro.subprocess, "run", no_training)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "results.json").read_text())["runs"] == results["runs"]


@pytest.mark.slow
def test_a_failed_run_is_reported_with_its_log(tmp_path):
    args = ["repro", "--quick", "--out", str(tmp_path), "--methods", "gold", "--bases", "r1",
            "--set", "data.synth_per_level=1", "--set", "eval.per_level=0", "--set", "train.max_steps=1",
            "--set", "train.prompts_per_step=2", "--set", "data.synth_levels=1", "--set", "model.max_seq_length=20"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "repro run r1-gold-s0 failed" in result.output and "r1-gold-s0.log" in result.output


def test_unknown_method_and_bad_seeds_are_usage_errors():
    result = CliRunner().invoke(app, ["repro", "--methods", "ttrl,grpo"])
    assert result.exit_code != 0 and "unknown method" in result.output
    assert CliRunner().invoke(app, ["repro", "--seeds", "a,b"]).exit_code == 2
    # checked on the parser itself: a bad value that slipped through the CLI would start a real grid
    for bad in ("3-1", "0-2,2", "0-x", ","):  # an empty range, a seed twice, not a number, nothing
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    assert CliRunner().invoke(app, ["repro", "--split", "train"]).exit_code == 2


def test_ablations_run_on_two_bases_only():
    cells = grid([0], list(BASES), ["ttrl", "cuma", "gold", "rent"], ablation_bases=("r1", "r5"))
    assert {c.base for c in cells if c.method == "rent"} == {"r1", "r5"}
    assert {c.base for c in cells if c.method == "cuma"} == set(BASES)


def test_paired_bootstrap_on_hand_made_deltas():
    """Method a gains 2 problems of 4 on both seeds; b the same plus one more on one seed; gold gains 4 of 4."""
    before = {"p1": False, "p2": False, "p3": False, "p4": True}
    a = deltas(before, [{"p1": True, "p2": True, "p3": False, "p4": True}] * 2)
    assert a.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]
    b = deltas(
        before,
        [{"p1": True, "p2": True, "p3": False, "p4": True}, {"p1": True, "p2": True, "p3": True, "p4": True}],
    )
    gold = np.ones((2, 4)) * [1, 1, 1, 0]
    stats = bootstrap({"ttrl": a, "b": b, "gold": gold}, reference="ttrl", gold="gold", draws=4000)
    assert stats["ttrl"]["change"].mean == pytest.approx(0.5)
    assert stats["b"]["change"].mean == pytest.approx(0.625)
    assert stats["b"]["vs_reference"].mean == pytest.approx(0.125)
    assert stats["b"]["vs_reference"].low >= 0  # b never does worse than ttrl on any problem and seed: paired
    assert stats["ttrl"]["gold_normalised"].mean == pytest.approx(0.5 / 0.75)
    low, high = stats["ttrl"]["change"].low, stats["ttrl"]["change"].high
    assert 0 <= low < 0.5 < high <= 1


def test_one_way_intervals_see_only_their_own_axis():
    """Deltas that differ between seeds but not between the problems of a seed: resampling problems alone cannot
    move the mean (a zero-width interval), resampling seeds alone can; and the other way round."""
    by_seed = np.repeat([[0.0], [0.1], [0.2]], 40, axis=1)  # [3 seeds, 40 problems]
    problems, seeds = one_way(by_seed, "problems"), one_way(by_seed, "seeds")
    assert problems.low == pytest.approx(0.1) and problems.high == pytest.approx(0.1)
    assert seeds.low < 0.1 < seeds.high
    flipped = np.tile(np.linspace(-0.5, 0.5, 40), (3, 1))  # every seed the same, problems differ
    assert one_way(flipped, "seeds").low == pytest.approx(one_way(flipped, "seeds").high)
    assert one_way(flipped, "problems").low < 0 < one_way(flipped, "problems").high


def test_bootstrap_confidence_widens_the_same_draws():
    """A second look at a cell is judged at a higher confidence: the same draws, quantiles further out."""
    noisy = np.random.default_rng(1).integers(-1, 2, size=(3, 50)).astype(float)
    at = {
        c: bootstrap({"m": noisy}, reference=None, gold=None, confidence=c)["m"]["change"]
        for c in (0.95, 0.99)
    }
    assert at[0.95].mean == at[0.99].mean
    assert at[0.99].low < at[0.95].low < at[0.95].mean < at[0.95].high < at[0.99].high


def test_targets_are_judged_on_intervals():
    def e(mean, lo, hi):
        return Estimate(mean, lo, hi)

    table = {
        "r1": {"ttrl": {"change": e(-0.03, -0.05, -0.01)},
               "cuma": {"change": e(0.02, 0.005, 0.04), "vs_reference": e(0.05, 0.02, 0.08)}},
        "r5": {"ttrl": {"change": e(0.04, 0.02, 0.06)},
               "cuma": {"change": e(0.03, 0.01, 0.05), "vs_reference": e(-0.01, -0.03, 0.01),
                        "gold_normalised": e(0.6, 0.3, 0.9)}},
    }  # fmt: skip
    verdict = targets(table, {"r1": 0.2, "r5": 0.6}, "cuma")
    assert verdict["i_never_hurts"]["holds"] and verdict["ii_never_worse_than_ttrl"]["holds"]
    assert verdict["iii_helps_lower_down"]["holds"]
    assert verdict["iii_helps_lower_down"]["bases_where_it_helps_below_that"] == ["r1"]
    assert verdict["iv_recovers_half_of_gold_at_the_top"]["holds"]
    table["r1"]["cuma"]["change"] = e(-0.02, -0.04, -0.001)
    assert not targets(table, {"r1": 0.2, "r5": 0.6}, "cuma")["i_never_hurts"]["holds"]
