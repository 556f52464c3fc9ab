"""The label-free collapse guard: its alarms on hand-made histories, and stop-and-restore in a real run."""

from __future__ import annotations

import json

import pytest

from cuma_lite.training.guard import GuardLimits, alarms, churn, churn_alarm


def step(entropy=1.0, share=0.4, parse=1.0, length=30.0):
    return {"entropy": entropy, "majority_share": share, "parse_rate": parse, "completion_length": length}


def test_quiet_training_raises_no_alarm():
    assert alarms([step()] * 20) == []
    assert alarms([step()] * 5) == []  # too short to judge


@pytest.mark.parametrize(
    ("late", "signal"),
    [
        (step(entropy=0.4), "entropy"),
        (step(entropy=1.6), "entropy"),
        (step(share=0.97), "majority share"),
        (step(share=0.25), "majority share"),
        (step(parse=0.5), "parse rate"),
        (step(length=46), "completion length"),
        (step(length=19), "completion length"),
    ],
)
def test_each_signal_trips_on_its_own(late, signal):
    found = alarms([step()] * 10 + [late] * 5)
    assert len(found) == 1 and found[0].startswith(signal)


def test_a_single_bad_step_is_averaged_away():
    assert alarms([step()] * 10 + [step(entropy=0.1)] + [step()] * 4) == []


def test_a_base_that_already_agrees_is_not_saturation():
    assert alarms([step(share=0.97)] * 15, GuardLimits(window=5)) == []


def test_churn_trips_on_a_surge_not_on_settling():
    limits = GuardLimits(churn_surge=1.5, churn_floor=0.15)
    assert churn_alarm([0.21, 0.17, 0.11, 0.10, 0.08, 0.11], limits) == []  # learning: churn settles
    assert churn_alarm([0.05, 0.02, 0.12], limits) == []  # a surge, but under the floor
    assert churn_alarm([0.20, 0.16, 0.25], limits) == ["answer churn 0.25 > 1.5 x its lowest 0.16"]
    assert churn_alarm([0.9]) == []  # one check: nothing to compare with


def test_churn_that_does_not_settle_trips_on_the_second_check_in_a_row():
    assert churn_alarm([0.40, 0.30]) == []  # one check after the first: not yet
    assert churn_alarm([0.40, 0.30, 0.29]) == [
        "answer churn 0.30, 0.29 not settling: >= 0.7 x its first 0.40"
    ]
    assert churn_alarm([0.40, 0.30, 0.20]) == []  # settled below 0.7 x 0.40
    assert churn_alarm([0.40, 0.20, 0.30]) == []  # one check up again, under 1.5 x 0.20: not yet
    assert churn_alarm([0.14, 0.14, 0.14]) == []  # under the floor


def test_churn_counts_changed_answers():
    assert churn(["1", "2", "3", None], ["1", "2", "3", None]) == 0.0
    assert churn(["1", "2", "3", None], ["1", "5", "3", "7"]) == 0.5


def test_a_churn_surge_stops_and_restores_the_snapshot_before_it():
    """The callback on its own: fake answers that settle and then surge; snapshots come from quiet log steps."""
    from types import SimpleNamespace

    import torch

    from cuma_lite.training.guard import CollapseGuard

    answers = iter(
        [list("aaaaaaaaaa"), list("baaaaaaaaa"), list("bbaaaaaaaa"), list("bbaaaaaaaa"), list("cccccaaaaa")]
    )
    model = torch.nn.Linear(2, 1)
    start = model.weight.detach().clone()
    guard = CollapseGuard("stop", GuardLimits(window=2), answers=lambda m: next(answers))
    control, state = SimpleNamespace(should_training_stop=False), SimpleNamespace(global_step=0)
    guard.on_train_begin(None, state, control, model=model)
    logs = {"cuma/mask_rate": 0.0, "entropy": 1.0, "cuma/majority_share": 0.4, "cuma/parse_rate": 1.0}
    for step in range(1, 9):
        state.global_step = step
        guard.on_step_end(None, state, control, model=model)
        if control.should_training_stop:
            break
        guard.on_log(None, state, control, logs=logs, model=model)
        with torch.no_grad():
            model.weight.add_(1.0)  # the next step's update
    # churn 0.1, 0.1, 0.0 (lowest), then 0.5 at step 8: > 0.15 and > 1.5 x 0.0
    assert [c for _, c in guard.churns] == [0.1, 0.1, 0.0, 0.5]
    assert (
        guard.tripped == (8, ["answer churn 0.50 > 1.5 x its lowest 0.00"]) and control.should_training_stop
    )
    assert guard.restored_step == 4  # snapshots of steps 4 and 6: the older one
    assert torch.allclose(model.weight, start + 3)  # step 4's weights: three updates in


@pytest.mark.slow
def test_a_policy_that_does_not_move_has_no_churn(tmp_path):
    """The run's churn probe answers the same prompts greedily at every check: at a learning rate too small to move
    a weight's last bit, every check's churn is 0 (resampled prompts or sampled answers would churn)."""
    from cuma_lite.config import load_config
    from cuma_lite.training.run import train

    cfg = load_config(
        "tiny-cpu",
        [f"train.output_dir={tmp_path / 'run'}", "rollout.num_generations=4", "rollout.max_new_tokens=16",
         "train.prompts_per_step=2", "train.max_steps=6", "train.save_steps=100", "train.learning_rate=1e-12",
         "data.synth_per_level=8", "eval.per_level=0", "train.collapse_guard=warn", "train.guard_window=2",
         "train.guard_prompts=24"],
    )  # fmt: skip
    report = train(cfg)["collapse_guard"]
    assert report["churn"] == [{"step": s, "churn": 0.0} for s in (2, 4, 6)]


@pytest.mark.slow
def test_stop_restores_the_weights_from_before_the_alarm(tmp_path, monkeypatch):
    """A guard told that everything above a 0.0 share is saturation trips once its first windows are in, stops the
    run early, and the saved weights are a snapshot's, not the last step's."""
    import torch
    from safetensors.torch import load_file

    from cuma_lite.config import load_config
    from cuma_lite.models.tiny import build_model, build_tokenizer
    from cuma_lite.training import guard
    from cuma_lite.training.run import train

    model_dir = tmp_path / "model"
    tokenizer = build_tokenizer()
    build_model(
        len(tokenizer), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, seed=0
    ).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    calls = {"n": 0}

    def trip_late(history, limits):  # quiet for 6 steps, then an alarm
        calls["n"] += 1
        return ["test alarm"] if len(history) >= 7 else []

    monkeypatch.setattr(guard, "alarms", trip_late)
    from transformers import TrainerCallback

    from cuma_lite.training import run

    seen: dict[int, dict[str, torch.Tensor]] = {}

    class Weights(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen[state.global_step] = {n: p.detach().clone() for n, p in model.named_parameters()}

    build = run.build_trainer

    def build_with(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.callback_handler.callbacks.insert(0, Weights())
        return trainer

    monkeypatch.setattr(run, "build_trainer", build_with)
    out = tmp_path / "run"
    cfg = load_config(
        "tiny-cpu",
        [f"model.name={model_dir}", f"train.output_dir={out}", "rollout.num_generations=4", "rollout.max_new_tokens=8",
         "train.prompts_per_step=2", "train.max_steps=12", "train.save_steps=100", "train.learning_rate=1e-3",
         "data.synth_per_level=8", "eval.per_level=0", "vote.min_share=0", "curriculum.mode=off",
         "train.collapse_guard=stop", "train.guard_window=2", "reward.label=plurality", "train.guard_prompts=0"],
    )  # fmt: skip
    summary = train(cfg)
    assert summary["collapse_guard"] == {"step": 7, "signals": ["test alarm"], "restored_step": 4}
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(s["step"] for s in steps) == 7  # stopped early
    final = load_file(out / "model" / "model.safetensors")
    # step 4's weights, not step 7's
    assert all(torch.equal(final[n], seen[4][n]) for n in final if n in seen[4])
    assert any(not torch.equal(seen[4][n], seen[7][n]) for n in seen[4])


def test_under_a_curriculum_only_the_churn_can_trip():
    """The rollout signals move as levels unlock; a guard told so ignores them (and still snapshots)."""
    from types import SimpleNamespace

    import torch

    from cuma_lite.training.guard import CollapseGuard

    model = torch.nn.Linear(2, 1)
    guard = CollapseGuard("stop", GuardLimits(window=2), rollouts=False)
    control, state = SimpleNamespace(should_training_stop=False), SimpleNamespace(global_step=0)
    for step in range(1, 13):
        state.global_step = step
        share = 0.4 if step <= 4 else 0.1  # would be an alarm: agreement falls below 0.75 x its start
        logs = {"cuma/mask_rate": 0.0, "entropy": 1.0, "cuma/majority_share": share, "cuma/parse_rate": 1.0}
        guard.on_log(None, state, control, logs=logs, model=model)
    assert guard.tripped is None and not control.should_training_stop
    assert [s for s, _ in guard.snapshots] == [10, 12]
    assert alarms(
        guard.history, GuardLimits(window=2)
    )  # the same history trips a guard that watches rollouts
