"""Disjoint data splits: a stable hash of the problem text, and the generator's ``split=`` argument."""

from __future__ import annotations

import hashlib
import json

import pytest

from cuma_lite.data.splits import SPLIT_PERCENT, SPLITS, check_split, split_bucket, split_counts, split_of
from cuma_lite.data.synthetic import generate

LEVELS = [1, 2, 3, 4, 5]
# Every distinct arithmetic level-1 problem: 2 operands in 1..49, + or -.
LEVEL1 = [f"Compute {a}{op}{b}." for a in range(1, 50) for b in range(1, 50) for op in "+-"]


def fingerprint(items: list[dict]) -> str:
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


# ---- the assignment -------------------------------------------------------------------------------------------


def test_assignment_is_pinned():
    # A change of hash, salt or shares moves problems between splits: it must show up here, never silently.
    assert [split_of(p) for p in ("Compute 12+7.", "Compute 7+12.", "Compute 2+1.", "Compute 12-7.")] == [
        "sft",
        "rl",
        "val",
        "test",
    ]
    assert split_bucket("Compute 12+7.") == 6 and split_bucket("Compute 1+1.") == 68
    assert split_of("Solve 3x+7=22.") == split_of("Solve 3x+7=22.")


def test_shares_and_the_level1_pool():
    assert SPLITS == ("sft", "rl", "val", "test")
    assert sum(SPLIT_PERCENT.values()) == 100
    assert len(set(LEVEL1)) == 4802
    counts = split_counts(LEVEL1)
    assert counts == {"sft": 2842, "rl": 709, "val": 523, "test": 728}  # the numbers the docs state
    for name, n in counts.items():  # each within 2 points of its share
        assert abs(n / len(LEVEL1) - SPLIT_PERCENT[name] / 100) < 0.02, name
    # What the yardstick needs from the smallest pool: 300 test and 150 val problems a level.
    assert counts["test"] >= 300 and counts["val"] >= 150 and counts["rl"] >= 400


def test_buckets_map_to_splits_in_order():
    by_bucket: dict[int, set[str]] = {}
    for problem in LEVEL1:
        by_bucket.setdefault(split_bucket(problem), set()).add(split_of(problem))
    assert sorted(by_bucket) == list(range(100))
    assert all(len(names) == 1 for names in by_bucket.values())  # a bucket is one split
    assert [by_bucket[b].pop() for b in (0, 59, 60, 74, 75, 84, 85, 99)] == [
        "sft",
        "sft",
        "rl",
        "rl",
        "val",
        "val",
        "test",
        "test",
    ]


def test_check_split():
    assert check_split("val") == "val"
    with pytest.raises(ValueError, match="unknown split 'dev'; choose one of sft, rl, val, test"):
        check_split("dev")


# ---- the generator's split= -----------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["arithmetic", "linear", "modular"])
def test_each_split_draws_only_its_own_problems_and_the_four_are_disjoint(task):
    drawn = {split: generate(task, LEVELS, 60, seed=0, split=split) for split in SPLITS}
    problems = {split: {it["problem"] for it in items} for split, items in drawn.items()}
    for split, items in drawn.items():
        assert len(items) == 60 * len(LEVELS) == len(problems[split])
        assert {split_of(it["problem"]) for it in items} == {split}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not problems[a] & problems[b], (a, b)
    # Disjoint whatever the seeds: an RL set of seed 3 never meets a test set of seed 0.
    rl3 = {it["problem"] for it in generate(task, LEVELS, 60, seed=3, split="rl")}
    assert not rl3 & (problems["test"] | problems["sft"] | problems["val"])


def test_split_items_are_deterministic_have_split_ids_and_independent_levels():
    a = generate("arithmetic", LEVELS, 40, seed=1, split="test")
    assert a == generate("arithmetic", LEVELS, 40, seed=1, split="test")
    assert a != generate("arithmetic", LEVELS, 40, seed=2, split="test")
    assert [it["id"] for it in a[:2]] == ["arith-test-L1-000000", "arith-test-L1-000001"]
    assert a[-1]["id"] == "arith-test-L5-000039"
    alone = generate("arithmetic", [3], 40, seed=1, split="test")
    assert alone == [it for it in a if it["difficulty"] == 3]


def test_a_split_is_the_unsplit_stream_filtered():
    # The same draws, kept or skipped: a split set's problems appear in the unsplit set's order.
    everything = [it["problem"] for it in generate("arithmetic", [2], 400, seed=0)]
    val = [it["problem"] for it in generate("arithmetic", [2], 30, seed=0, split="val")]
    assert val == [p for p in everything if split_of(p) == "val"][:30]


def test_split_and_exclude_combine():
    first = generate("arithmetic", [1], 200, seed=0, split="rl")
    second = generate("arithmetic", [1], 200, seed=1, split="rl", exclude={it["problem"] for it in first})
    assert not {it["problem"] for it in first} & {it["problem"] for it in second}
    assert {split_of(it["problem"]) for it in second} == {"rl"}


def test_level1_pools_can_be_drawn_whole():
    # 300 test and 150 val problems a level at level 1 for any seed; the whole sft pool for the ladder's SFT.
    for seed in range(3):
        assert len(generate("arithmetic", [1], 300, seed=seed, split="test")) == 300
        assert len(generate("arithmetic", [1], 150, seed=seed, split="val")) == 150
    assert len(generate("arithmetic", [1], 2842, seed=0, split="sft")) == 2842
    with pytest.raises(ValueError, match="ran out of distinct 'test'-split problems after 728 of 729"):
        generate("arithmetic", [1], 729, seed=0, split="test")


def test_bad_split_names_are_rejected_before_drawing():
    with pytest.raises(ValueError, match="unknown split 'train'"):
        generate("arithmetic", [1], 5, seed=0, split="train")


def test_split_none_is_the_generator_as_it_was():
    # Fingerprints of the generator's output before `split=` existed (the reproduction's RL prompts, the old
    # held-out set and the old bases' SFT set among them): ids, problems, answers, solutions and order unchanged.
    assert fingerprint(generate("arithmetic", LEVELS, 400, 0)) == "9878ad3eeb7fb81d"
    assert fingerprint(generate("arithmetic", LEVELS, 400, 1)) == "d98bd3f479e91391"
    held_out = generate("arithmetic", LEVELS, 100, 1000)
    assert fingerprint(held_out) == "484b04067e6085ea"
    sft = generate("arithmetic", LEVELS, 4000, 0, exclude={it["problem"] for it in held_out})
    assert fingerprint(sft) == "14aa94d1947edcbd"
    assert fingerprint(generate("linear", [3, 1], 50, 7)) == "173e3c65899cbfc1"
    expected = {
        "linear": ("769771ea8a0d6d3b", "c1e01202b7ef1a37"),
        "fractions": ("f5b9dfc5c355e925", "d979473d47af155d"),
        "modular": ("a74ed815af9ad1b2", "85ff73f266a7aacf"),
    }
    for task, (upper, level1) in expected.items():
        assert fingerprint(generate(task, [2, 3, 4, 5], 300, 0)) == upper, task
        assert fingerprint(generate(task, [1], 30, 0)) == level1, task
    assert generate("arithmetic", [1], 5, 0, split=None) == generate("arithmetic", [1], 5, 0)


def test_module_example_holds():
    import doctest

    import cuma_lite.data.splits as splits

    assert doctest.testmod(splits).failed == 0
