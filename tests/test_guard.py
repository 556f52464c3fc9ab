"""The label-free collapse guard: its alarms on hand-made histories, and stop-and-restore in a real run."""

from __future__ import annotations

import json

import pytest

from cuma_lite.training.guard import GuardLimits, Look, alarms, churn, churn_alarm, drift_alarm


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
    guard = CollapseGuard("stop", GuardLimits(window=2), look=lambda m: Look(next(answers)))
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
    drift = report["drift_nll"]  # the start's look, then every check: the same completions, the same weights
    assert (
        [d["step"] for d in drift] == [0, 2, 4, 6]
        and len({d["nll"] for d in drift}) == 1
        and drift[0]["nll"] > 0
    )


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


def test_drift_trips_above_its_ceiling_and_not_below():
    assert drift_alarm([2.0]) == []
    assert drift_alarm([2.0, 2.4, 2.5]) == []  # 1.25 x 2.0: not above
    assert drift_alarm([2.0, 2.6])[0].startswith("drift")
    assert drift_alarm([2.0, 2.6], GuardLimits(drift_ceiling=0.5)) == []


def test_the_callback_trips_on_drift_alone():
    """Answers that never change (no churn) but drift away from the start: the drift trips the guard."""
    from types import SimpleNamespace

    import torch

    from cuma_lite.training.guard import CollapseGuard

    nlls = iter([2.0, 2.1, 2.3, 2.6, 3.0])
    model = torch.nn.Linear(2, 1)
    guard = CollapseGuard("warn", GuardLimits(window=2), look=lambda m: Look(["1", "2"], next(nlls)))
    control, state = SimpleNamespace(should_training_stop=False), SimpleNamespace(global_step=0)
    guard.on_train_begin(None, state, control, model=model)
    for step in range(1, 9):
        state.global_step = step
        guard.on_step_end(None, state, control, model=model)
    assert guard.tripped is not None and guard.tripped[0] == 6  # 2.6 > 1.25 x 2.0
    assert guard.tripped[1][0].startswith("drift") and not control.should_training_stop  # warn: no stop
    assert guard.report()["drift_nll"] == [
        {"step": s, "nll": n} for s, n in [(0, 2.0), (2, 2.1), (4, 2.3), (6, 2.6)]
    ]


def test_the_look_scores_under_the_start_weights_and_gives_the_policy_back():
    """The drift is the completions' NLL under the weights of the first look, whatever the policy has become; the
    policy's own weights and mode come back bit for bit."""
    import copy

    import torch

    from cuma_lite.backends import get_backend
    from cuma_lite.config import load_config
    from cuma_lite.models.tiny import build_model, build_tokenizer
    from cuma_lite.training.lookout import GreedyLook
    from cuma_lite.transfer import sequence_logprobs

    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), hidden=32, layers=1, heads=2, kv_heads=1, intermediate=64, seed=0)
    prompts = [f"Q: Compute {a}+{a}.\nA: " for a in range(6)]
    backend = get_backend(load_config("tiny-cpu"))
    look = GreedyLook(backend, tokenizer, prompts, max_new_tokens=8)
    first = look(model)
    reference = copy.deepcopy(model).eval()  # the start
    with torch.no_grad():  # the policy moves
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    moved = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    completions = [list(g[0].token_ids) for g in
                   backend.generator(model, tokenizer).generate(prompts, look.spec)]  # fmt: skip
    nll = look.start_nll(model, completions)
    assert all(torch.equal(p, moved[n]) for n, p in model.named_parameters()) and model.training
    with torch.no_grad():
        expected = -sequence_logprobs(reference, list(zip(look.prompt_ids, completions, strict=True))).mean()
    assert nll == pytest.approx(float(expected), rel=1e-5)
    assert first.nll is not None and first.nll > 0 and len(first.answers) == len(prompts)


def test_a_negative_drift_budget_is_a_config_error():
    from cuma_lite.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="train.guard_drift=-0.1 must be >= 0"):
        load_config("tiny-cpu", ["train.guard_drift=-0.1"])
    assert load_config("tiny-cpu", ["train.guard_drift=0"]).train.guard_drift == 0


@pytest.mark.parametrize(
    ("overrides", "drift"),
    [
        ([], True),
        (["reward.kind=gold"], False),
        (["train.guard_drift=0"], False),
        (["train.guard_prompts=0"], None),
    ],
)
def test_the_drift_check_is_for_label_free_rewards(overrides, drift):
    """A gold reward's labels vouch for its moves: no drift check there (nor with a zero budget)."""
    from cuma_lite.backends import get_backend
    from cuma_lite.config import load_config
    from cuma_lite.models.tiny import build_tokenizer
    from cuma_lite.training.run import _guard_look

    cfg = load_config("tiny-cpu", overrides)
    look = _guard_look(cfg, get_backend(cfg), build_tokenizer(), [{"problem": "Compute 1+1."}] * 3)
    assert (look.drift if look is not None else None) is drift


def test_docstring_examples():
    import doctest

    from cuma_lite.training import guard

    result = doctest.testmod(guard)
    assert result.attempted > 0 and result.failed == 0
