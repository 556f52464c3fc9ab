"""The curriculum scheduler: hand-computed active levels, pool sizes, replay shares, determinism, resume."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from cuma_lite.curriculum import (
    CurriculumConfig,
    CurriculumScheduler,
    competence,
    difficulty_levels,
)
from cuma_lite.errors import ConfigError

# 12 items: four each at levels 1, 2, 3 (indices 0-3, 4-7, 8-11).
THREE_LEVELS = [1] * 4 + [2] * 4 + [3] * 4


def make(
    mode: str, difficulties=THREE_LEVELS, total_steps: int = 30, seed: int = 0, **kw
) -> CurriculumScheduler:
    return CurriculumScheduler(
        difficulties, CurriculumConfig(mode=mode, **kw), total_steps=total_steps, seed=seed
    )


def levels_of(sched: CurriculumScheduler, indices: list[int]) -> Counter:
    return Counter(sched.level_of(i) for i in indices)


# ---- levels ---------------------------------------------------------------------------------------------------


def test_integer_difficulties_are_levels_as_they_are():
    sched = make("stages", difficulties=[7, 1, 3, 3])
    assert sched.levels == [1, 3, 7]
    assert [sched.level_of(i) for i in range(4)] == [7, 1, 3, 3]


def test_float_difficulties_are_binned_by_quantile():
    # ranks 0..9 -> level = 5 * rank // 10 = rank // 2
    diffs = [0.1, 0.5, 0.2, 0.9, 0.3, 0.7, 0.4, 0.8, 0.6, 1.0]
    assert difficulty_levels(diffs, num_levels=5) == [0, 2, 0, 4, 1, 3, 1, 3, 2, 4]


def test_float_ties_share_a_level_and_empty_bins_are_skipped():
    # items strictly easier: 0, 1, 1, 1, 4 -> levels 5*k//5 = 0, 1, 1, 1, 4; bins 2 and 3 are empty
    diffs = [0.0, 0.5, 0.5, 0.5, 1.0]
    assert difficulty_levels(diffs, num_levels=5) == [0, 1, 1, 1, 4]
    sched = make("stages", difficulties=diffs, total_steps=30, num_levels=5)
    assert sched.levels == [0, 1, 4]
    assert sched.active_levels(10) == [0, 1]  # 3 non-empty levels: the second unlocks at step 10 of 30


def test_bad_difficulties_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        make("off", difficulties=[])
    with pytest.raises(ValueError, match="finite"):
        make("off", difficulties=[1.0, float("nan")])
    with pytest.raises(ValueError, match="difficulty"):
        make("off", difficulties=[1, "hard"])


# ---- off ------------------------------------------------------------------------------------------------------


def test_off_uses_every_level_and_covers_all_items_each_pass():
    sched = make("off")
    assert sched.active_levels(0) == sched.active_levels(29) == [1, 2, 3]
    stream = [i for step in range(12) for i in sched.draw(step, 5)]  # 60 draws = 5 passes of 12
    for p in range(5):
        assert sorted(stream[12 * p : 12 * (p + 1)]) == list(range(12))


def test_batches_have_no_repeats_across_a_pass_boundary():
    sched = make("off")
    for step in range(20):
        batch = sched.draw(step, 5)
        assert len(set(batch)) == 5


# ---- stages ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, [1]), (9, [1]), (10, [1, 2]), (19, [1, 2]), (20, [1, 2, 3]), (29, [1, 2, 3]), (500, [1, 2, 3])],
)
def test_stages_unlock_at_equal_fractions(step, expected):
    # 3 levels over 30 steps: level k (0-based) unlocks at progress k/3, i.e. steps 0, 10, 20
    assert make("stages").active_levels(step) == expected


def test_stages_only_newest_level_before_any_unlock():
    sched = make("stages", replay=0.5)
    drawn = [i for step in range(10) for i in sched.draw(step, 4)]
    assert levels_of(sched, drawn) == Counter({1: 40})


def test_stages_replay_share_is_exact_when_it_divides():
    sched = make("stages", replay=0.25)
    for step in range(20, 40):
        counts = levels_of(sched, sched.draw(step, 8))
        assert counts[3] == 6  # 75% of 8 from the newest level
        assert counts[1] + counts[2] == 2  # 25% replayed from easier levels


def test_stages_replay_share_over_many_draws():
    sched = make("stages", replay=0.25, total_steps=30)
    counts = Counter()
    for step in range(25, 25 + 800):
        counts += levels_of(sched, sched.draw(step, 10))  # 2.5 replay prompts a draw: rounded stochastically
    total = sum(counts.values())
    assert total == 8000
    assert counts[3] / total == pytest.approx(0.75, abs=0.01)
    # replay is uniform over the easier items: levels 1 and 2 have 4 items each
    assert counts[1] / total == pytest.approx(0.125, abs=0.01)
    assert counts[2] / total == pytest.approx(0.125, abs=0.01)


def test_stages_without_replay_draws_only_the_newest_level():
    sched = make("stages", replay=0.0)
    drawn = [i for step in range(20, 30) for i in sched.draw(step, 4)]
    assert levels_of(sched, drawn) == Counter({3: 40})


# ---- pacing ---------------------------------------------------------------------------------------------------

HUNDRED = [i // 20 + 1 for i in range(100)]  # 20 items at each of levels 1..5


@pytest.mark.parametrize(
    ("pacing", "step", "size"),
    [
        ("linear", 0, 10),  # c0 = 0.1
        ("linear", 50, 55),  # 0.1 + 0.9 * 0.5 = 0.55
        ("linear", 100, 100),
        ("sqrt", 0, 10),  # sqrt(0.01) = 0.1
        ("sqrt", 50, 72),  # sqrt(0.01 + 0.99 * 0.5) = 0.7106 -> ceil(71.06)
        ("sqrt", 100, 100),
    ],
)
def test_pacing_pool_sizes(pacing, step, size):
    sched = make("pacing", difficulties=HUNDRED, total_steps=100, pacing=pacing, start_competence=0.1)
    assert len(sched.active_items(step)) == size


def test_competence_functions():
    assert competence(0.0, "linear", 0.1) == pytest.approx(0.1)
    assert competence(0.5, "linear", 0.1) == pytest.approx(0.55)
    assert competence(0.5, "sqrt", 0.1) == pytest.approx(0.505**0.5)
    assert competence(2.0, "sqrt", 0.1) == 1.0


def test_pacing_pool_is_the_easiest_items_and_draws_stay_in_it():
    sched = make("pacing", difficulties=HUNDRED, total_steps=100, pacing="linear", start_competence=0.1)
    assert sched.active_levels(0) == [1]
    assert sched.active_levels(50) == [1, 2, 3]  # 55 easiest items reach into level 3 (items 40-59)
    pool = set(sched.active_items(50))
    assert max(HUNDRED[i] for i in pool) <= min(HUNDRED[i] for i in set(range(100)) - pool)
    assert {i for i in range(40) if i in pool} == set(range(40))  # levels 1 and 2 entirely
    for _ in range(20):
        assert set(sched.draw(50, 8)) <= pool


def test_pacing_ties_at_the_boundary_are_broken_by_the_seed():
    pools = {
        frozenset(
            make("pacing", difficulties=HUNDRED, total_steps=100, pacing="linear", seed=s).active_items(50)
        )
        for s in range(5)
    }
    assert len(pools) > 1


# ---- adaptive -------------------------------------------------------------------------------------------------


def adaptive(**kw) -> CurriculumScheduler:
    cfg = {"mask_threshold": 0.3, "window": 10, "min_observations": 5, "replay": 0.25} | kw
    return make("adaptive", **cfg)


def test_adaptive_starts_on_the_easiest_level():
    sched = adaptive()
    assert sched.active_levels(0) == [1]
    assert sched.curriculum_stage(0) == "adaptive:1-1"


def test_adaptive_holds_while_the_mask_rate_is_high():
    sched = adaptive()
    for step in range(20):
        batch = sched.draw(step, 4)
        assert {sched.level_of(i) for i in batch} == {1}
        sched.observe([sched.level_of(i) for i in batch], [True, True, False, True])  # mask rate 0.75
    assert sched.active_levels(20) == [1]


def test_adaptive_unlocks_when_the_mask_rate_falls_below_the_threshold():
    sched = adaptive()
    sched.draw(0, 4)
    sched.observe([1] * 10, [True, True] + [False] * 8)  # mask rate 0.2 < 0.3
    assert sched.active_levels(1) == [1, 2]
    sched.draw(1, 4)
    assert sched.curriculum_stage(1) == "adaptive:1-2"
    assert sched.active_levels(2) == [1, 2]  # level 2 has no observations yet: hold


def test_adaptive_threshold_is_strict():
    sched = adaptive()
    sched.observe([1] * 10, [True] * 3 + [False] * 7)  # mask rate exactly 0.3: not below
    assert sched.active_levels(1) == [1]
    assert sched.mask_rate(1) == pytest.approx(0.3)


def test_adaptive_window_forgets_old_observations():
    sched = adaptive()
    sched.observe([1] * 10, [True] * 10)
    sched.observe([1] * 8, [False] * 8)  # window of 10 now holds 2 True, 8 False
    assert sched.mask_rate(1) == pytest.approx(0.2)
    assert sched.active_levels(1) == [1, 2]


def test_adaptive_needs_min_observations():
    sched = adaptive()
    sched.observe([1] * 4, [False] * 4)  # mask rate 0, but only 4 < 5 observations
    assert sched.active_levels(1) == [1]
    sched.observe(1, False)
    assert sched.active_levels(1) == [1, 2]


def test_adaptive_only_the_newest_level_unlocks():
    sched = adaptive()
    sched.observe([1] * 10, [False] * 10)
    sched.draw(1, 4)  # commits level 2
    sched.observe([1] * 10, [False] * 10)  # replayed level 1 stays calm; level 2 has no evidence
    assert sched.active_levels(2) == [1, 2]


def test_adaptive_unlocks_after_max_dwell():
    sched = adaptive(max_dwell=5)
    seen = []
    for step in range(13):
        sched.draw(step, 4)
        sched.observe([1, 1, 1, 1], [True] * 4)  # never calm
        seen.append(sched.active_levels(step)[-1])
    # level 1 at steps 0-4, level 2 from step 5 (dwelt 5), level 3 from step 10
    assert seen == [1] * 5 + [2] * 5 + [3] * 3


def test_adaptive_replay_from_easier_levels():
    sched = adaptive(replay=0.25)
    sched.observe([1] * 10, [False] * 10)
    counts = Counter()
    for step in range(1, 51):
        counts += levels_of(sched, sched.draw(step, 4))
    assert counts == Counter({2: 150, 1: 50})


def test_observe_rejects_unknown_levels_and_length_mismatch():
    sched = adaptive()
    with pytest.raises(ValueError, match="level_of"):
        sched.observe([1, 9], [True, False])
    with pytest.raises(ValueError, match="one flag per level"):
        sched.observe([1, 2], [True])
    assert sched.mask_rate(1) is None  # nothing recorded from a rejected call


# ---- band -----------------------------------------------------------------------------------------------------


def band(**kw) -> CurriculumScheduler:
    return make(
        "band",
        **({"window": 10, "min_observations": 1, "band_low": 0.3, "band_high": 0.8, "band_floor": 0.1} | kw),
    )


def test_band_weights_by_hand():
    sched = band(band_floor=0.2)
    assert sched.band_weights() == {1: 0.5, 2: 0.5, 3: 0.5}  # unseen: Laplace's 1/2
    # level 1: 3 of 4 in band (0.3 and 0.8 are inside); level 2: 0 of 4; level 3: 2 of 2
    sched.observe(
        [1] * 4 + [2] * 4 + [3] * 2, [False] * 10, agreement=[0.3, 0.5, 0.8, 1.0, 0, 0.125, 1, 1, 0.5, 0.6]
    )
    assert sched.band_weights() == {1: 4 / 6, 2: 0.2, 3: 3 / 4}  # level 2: 1/6 lifted to the floor
    assert sched.active_levels(0) == [1, 2, 3]


def test_band_draws_levels_in_proportion_to_their_weights():
    sched = band()
    sched.observe([1] * 8 + [2] * 8, [False] * 16, agreement=[0.5] * 8 + [1.0] * 8)  # level 3 unseen
    w = sched.band_weights()
    assert w == {1: 0.9, 2: 0.1, 3: 0.5}
    counts = Counter()
    for step in range(300):
        counts += levels_of(sched, sched.draw(step, 5))
    for lvl in (1, 2, 3):  # 1,500 draws: 3 standard errors of a binomial share
        p = w[lvl] / sum(w.values())
        assert abs(counts[lvl] / 1500 - p) < 3 * (p * (1 - p) / 1500) ** 0.5


def test_band_a_level_can_leave_and_come_back():
    """A level whose groups become unanimous (above the band) fades to the floor; back in the band, it returns."""
    sched = band(window=4)
    sched.observe([1] * 4, [False] * 4, agreement=[0.5] * 4)
    assert sched.band_weights()[1] == 5 / 6
    sched.observe([1] * 4, [False] * 4, agreement=[1.0] * 4)  # the window forgets the in-band groups
    assert sched.band_weights()[1] == 1 / 6
    sched.observe([1] * 3, [False] * 3, agreement=[0.5] * 3)
    assert sched.band_weights()[1] == 4 / 6


def test_band_ignores_the_mask_and_other_modes_ignore_agreement():
    a, b = band(), band()
    a.observe([1, 2], [True, False], agreement=[0.5, 0.5])
    b.observe([1, 2], [False, True], agreement=[0.5, 0.5])
    assert a.band_weights() == b.band_weights()
    c, d = adaptive(), adaptive()
    c.observe([1] * 6, [False] * 6, agreement=[0.5] * 6)
    d.observe([1] * 6, [False] * 6)
    assert [c.draw(s, 4) for s in range(5)] == [d.draw(s, 4) for s in range(5)]


def test_observe_rejects_bad_agreement_and_records_nothing():
    sched = band()
    with pytest.raises(ValueError, match="one per level"):
        sched.observe([1, 2], [False, False], agreement=[0.5])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        sched.observe([1, 2], [False, False], agreement=[0.5, 1.5])
    with pytest.raises(ValueError, match="pass a list"):
        sched.observe(1, False, agreement=[0.5])
    sched.observe(1, False, agreement=0.5)  # one group, one share
    assert sched.band_weights() == {1: 2 / 3, 2: 0.5, 3: 0.5}


def test_a_state_saved_before_the_band_mode_still_loads():
    original = adaptive()
    original.observe([1] * 3, [False] * 3)
    state = original.state_dict()
    del state["agreement"]
    resumed = adaptive()
    resumed.load_state_dict(state)
    assert resumed.mask_rate(1) == 0.0


# ---- never starves --------------------------------------------------------------------------------------------


def test_never_starves_when_n_exceeds_the_pool(caplog):
    sched = adaptive()
    with caplog.at_level(logging.INFO, logger="cuma_lite.curriculum"):
        batch = sched.draw(0, 10)  # level 1 has only 4 items
        sched.draw(1, 10)
    assert len(batch) == 10
    counts = Counter(batch)
    assert set(counts) == {0, 1, 2, 3}
    assert sorted(counts.values()) == [2, 2, 3, 3]  # each item once per pass: passes of 4, 4, then 2
    reuse = [r for r in caplog.records if "reusing" in r.getMessage()]
    assert len(reuse) == 1  # logged once for the pool, not on every pass


def test_zero_prompts_is_an_empty_draw():
    assert make("off").draw(0, 0) == []


@pytest.mark.parametrize(("step", "n"), [(-1, 4), (0, -1)])
def test_draw_rejects_bad_arguments(step, n):
    with pytest.raises(ValueError):
        make("off").draw(step, n)


# ---- determinism and resume -----------------------------------------------------------------------------------


def run(sched: CurriculumScheduler, steps: range, n: int = 5) -> list[list[int]]:
    """Draw each step and feed back a deterministic mask pattern (masked iff the index is odd) and agreement."""
    out = []
    for step in steps:
        batch = sched.draw(step, n)
        sched.observe(
            [sched.level_of(i) for i in batch], [i % 2 == 1 for i in batch], [i % 5 / 4 for i in batch]
        )
        out.append(batch)
    return out


@pytest.mark.parametrize("mode", ["off", "stages", "pacing", "adaptive", "band"])
def test_same_seed_same_draws_different_seed_different(mode):
    kw = {"window": 4, "min_observations": 2, "mask_threshold": 0.6} if mode == "adaptive" else {}
    a = run(make(mode, difficulties=HUNDRED, total_steps=40, seed=1, **kw), range(40))
    b = run(make(mode, difficulties=HUNDRED, total_steps=40, seed=1, **kw), range(40))
    c = run(make(mode, difficulties=HUNDRED, total_steps=40, seed=2, **kw), range(40))
    assert a == b
    assert a != c


@pytest.mark.parametrize("mode", ["off", "stages", "pacing", "adaptive", "band"])
def test_state_dict_round_trip_continues_identically(mode):
    kw = {"window": 4, "min_observations": 2, "mask_threshold": 0.6} if mode == "adaptive" else {}
    original = make(mode, difficulties=HUNDRED, total_steps=40, seed=3, **kw)
    run(original, range(15), n=7)
    state = json.loads(json.dumps(original.state_dict()))  # what a checkpoint stores
    resumed = make(mode, difficulties=HUNDRED, total_steps=40, seed=3, **kw)
    resumed.load_state_dict(state)
    assert resumed.active_levels(15) == original.active_levels(15)
    assert run(resumed, range(15, 40), n=7) == run(original, range(15, 40), n=7)


def test_adaptive_resume_keeps_unlocks_and_windows():
    original = adaptive()
    original.observe([1] * 10, [False] * 10)
    original.draw(3, 4)
    resumed = adaptive()
    resumed.load_state_dict(original.state_dict())
    assert resumed.active_levels(4) == [1, 2]
    assert resumed.mask_rate(1) == 0.0


def test_load_state_dict_refuses_a_different_run():
    state = make("off", seed=1).state_dict()
    with pytest.raises(ValueError, match="seed"):
        make("off", seed=2).load_state_dict(state)
    with pytest.raises(ValueError, match="fingerprint"):
        make("off", difficulties=[1, 2, 3], seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="mode"):
        make("stages", seed=1).load_state_dict(state)


# ---- config ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mode": "easy-first"}, "curriculum.mode"),
        ({"replay": 1.0}, r"curriculum.replay=1.0 must be in \[0, 1\)"),
        ({"replay": -0.1}, "curriculum.replay"),
        ({"pacing": "cubic"}, "linear or sqrt"),
        ({"start_competence": 0.0}, "curriculum.start_competence"),
        ({"mask_threshold": 1.5}, "curriculum.mask_threshold"),
        ({"window": 0}, "curriculum.window"),
        ({"window": 8, "min_observations": 9}, "curriculum.min_observations=9"),
        ({"max_dwell": 0}, "curriculum.max_dwell"),
        ({"num_levels": 0}, "curriculum.num_levels"),
        ({"band_low": 0.8, "band_high": 0.8}, "band_low < band_high"),
        ({"band_high": 1.2}, "curriculum.band_low"),
        ({"band_floor": 0.0}, "curriculum.band_floor=0.0 must be in"),
    ],
)
def test_config_validation(kw, message):
    with pytest.raises(ConfigError, match=message):
        CurriculumConfig(**kw)


def test_config_defaults_are_valid_and_frozen():
    cfg = CurriculumConfig()
    assert cfg.mode == "adaptive"
    with pytest.raises(AttributeError):
        cfg.mode = "off"  # type: ignore[misc]


def test_total_steps_must_be_positive():
    with pytest.raises(ValueError, match="total_steps"):
        make("stages", total_steps=0)
