"""CPU integration tests of `cuma-lite train` on a tiny randomly initialised model (built at test time).

They check what the method promises: real steps move the weights; the no-majority mask is exact (a masked group
is the same as a removed one; an all-masked step moves nothing); the curriculum decides what each step draws;
gold answers never influence training.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cuma_lite import rewards  # noqa: E402
from cuma_lite.config import load_config  # noqa: E402
from cuma_lite.training import run  # noqa: E402
from cuma_lite.training.run import train  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from cuma_lite.models.tiny import build_model, build_tokenizer

    path = tmp_path_factory.mktemp("tiny-random")
    tokenizer = build_tokenizer()
    build_model(
        len(tokenizer), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, seed=0
    ).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def small_config(model_dir: Path, out: Path, *extra: str):
    """tiny-cpu made small, with the vote as the label, the 7-of-8 mask and the adaptive curriculum (what these
    tests exercise; ``extra`` overrides any of it)."""
    return load_config(
        "tiny-cpu",
        [
            "reward.label=plurality",
            "vote.min_share=0.75",
            "curriculum.mode=adaptive",
            "curriculum.window=32",
            "curriculum.min_observations=16",
            "train.collapse_guard=off",
            f"model.name={model_dir}",
            f"train.output_dir={out}",
            "rollout.num_generations=4",
            "rollout.max_new_tokens=12",
            "train.prompts_per_step=4",
            "train.max_steps=2",
            "train.save_steps=100",
            "train.learning_rate=1e-3",
            "data.synth_per_level=8",
            "data.synth_levels=1-2",
            "eval.per_level=0",
            *extra,
        ],
    )


def final_state(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "model" / "model.safetensors")


def metrics(out: Path, *, evals: bool = False) -> list[dict]:
    """The training-step lines of metrics.jsonl (or, with ``evals``, the held-out evaluation lines)."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if ("eval_tag" in r) == evals]


def scripted_answers(monkeypatch, groups_per_step: list[list[list[str | None]]]) -> None:
    """Replace answer extraction by a script: step s, group k, completion j answers groups_per_step[s][k][j]."""
    flat = itertools.chain.from_iterable(itertools.chain.from_iterable(groups_per_step))
    monkeypatch.setattr(rewards, "extract_answer", lambda text: next(flat))


def build(cfg, out: Path):
    """What ``train`` builds before it trains: (trainer, data), in a fresh run directory."""
    from cuma_lite.backends import get_backend
    from cuma_lite.curriculum import CurriculumScheduler
    from cuma_lite.training import rundata, rundir
    from cuma_lite.training.logs import JsonlLog

    backend = get_backend(cfg)
    backend.activate()
    model, tokenizer = backend.load_policy()
    data = rundata.load_run_data(cfg)
    rundir.prepare_output_dir(out, cfg, resume=False, overwrite=True)
    scheduler = CurriculumScheduler(
        rundata.difficulties(data.train, cfg),
        cfg.curriculum,
        total_steps=cfg.train.max_steps,
        seed=cfg.train.seed,
    )
    logs = JsonlLog(out / "metrics.jsonl"), JsonlLog(out / "samples.jsonl")
    return run.build_trainer(cfg, backend, model, tokenizer, data, scheduler, *logs), data


def with_callback(monkeypatch, callback) -> None:
    """Every trainer ``train`` builds gets ``callback``."""
    original = run.build_trainer

    def build_with(*args, **kwargs):
        trainer = original(*args, **kwargs)
        trainer.add_callback(callback)
        return trainer

    monkeypatch.setattr(run, "build_trainer", build_with)


def test_real_steps_change_the_weights(tiny_model_dir, tmp_path):
    from cuma_lite.models.source import resolve_model_path

    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        "vote.min_share=0",
        "curriculum.mode=off",
        "eval.per_level=2",
        "eval.every=1",
    )
    summary = train(cfg)
    from safetensors.torch import load_file

    before = load_file(Path(resolve_model_path(str(tiny_model_dir))) / "model.safetensors")
    after = final_state(tmp_path / "run")
    assert summary["steps"] == 2
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rows = metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2]
    for key in (
        "majority_share",
        "mask_rate",
        "completion_length",
        "learning_rate",
        "step_time",
        "active_levels",
    ):
        assert key in rows[0], key
    evals = metrics(tmp_path / "run", evals=True)  # before, every step (eval.every=1), after
    assert [(e["step"], e["eval_tag"]) for e in evals] == [(0, "before"), (1, "step1"), (2, "after")]
    assert set(evals[0]["eval_per_level"]) == {"1", "2"}
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert {"completions", "answers", "pseudo_label", "masked", "majority_share"} <= set(samples[0])


def test_all_masked_step_leaves_every_parameter_unchanged(tiny_model_dir, tmp_path, monkeypatch):
    """Step 1 trains (clear majorities); step 2 has no majority anywhere: the weights must not move at all,
    although Adam's momentum from step 1 would move them under a mere zero gradient."""
    from transformers import TrainerCallback

    trained = [["1", "1", "1", "2"]] * 4
    no_majority = [["1", "2", "3", None]] * 4
    scripted_answers(monkeypatch, [trained, no_majority])
    snapshots: list[dict[str, torch.Tensor]] = []

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})

    with_callback(monkeypatch, Snapshot())
    cfg = small_config(tiny_model_dir, tmp_path / "run", "vote.min_share=0.5", "curriculum.mode=off")
    train(cfg)
    assert len(snapshots) == 2
    assert [r["mask_rate"] for r in metrics(tmp_path / "run")] == [0.0, 1.0]
    moved = [n for n in snapshots[0] if not torch.equal(snapshots[0][n], snapshots[1][n])]
    assert moved == []


@pytest.mark.parametrize(
    ("loss", "beta", "normaliser", "entropy"),
    [("dapo", 0.0, "unmasked", 0.0), ("dapo", 0.1, "unmasked", 0.0), ("bnpo", 0.0, "unmasked", 0.0),
     ("bnpo", 0.1, "unmasked", 0.0), ("dapo", 0.0, "batch", 0.0), ("dapo", 0.1, "unmasked", 0.5),
     ("bnpo", 0.0, "unmasked", 0.5)],
)  # fmt: skip
def test_masked_groups_give_the_gradient_of_removed_groups(
    tiny_model_dir, tmp_path, monkeypatch, loss, beta, normaliser, entropy
):
    """Gradient with groups 0 and 2 masked == gradient of the batch with those groups' rows removed
    (``vote.mask_normaliser=batch``: the same, scaled by the unmasked share of the batch's tokens); with an
    entropy bonus (``train.entropy_coef``) too: TRL takes it over the (masked) completion mask.

    The policy is moved away from the reference first (as after an update), so that with beta > 0 the KL term
    has a gradient on every row: masked rows left in the loss would show."""
    import trl

    class Recording(trl.GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            self.raw = dict(
                out
            )  # before the mask is applied (the override replaces tensors, never edits them)
            return out

    monkeypatch.setattr(trl, "GRPOTrainer", Recording)
    scripted_answers(
        monkeypatch,
        [[["1", "2", "3", "4"], ["5", "5", "5", "6"], [None] * 4, ["7", "7", "7", "8"]]],
    )
    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        f"train.loss_type={loss}",
        f"train.beta={beta}",
        f"train.entropy_coef={entropy}",
        f"vote.mask_normaliser={normaliser}",
        "vote.min_share=0.5",
        "curriculum.mode=off",
    )
    trainer, _ = build(cfg, tmp_path / "run")
    assert isinstance(trainer, Recording)
    assert trainer.entropy_coef == entropy and trainer._entropy_bonus_enabled == bool(entropy)
    with torch.no_grad():  # "after an update": the policy is no longer the reference
        generator = torch.Generator().manual_seed(0)
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    batch = [trainer.train_dataset[i] for i in range(4) for _ in range(4)]
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    masked = trainer._generate_and_score_completions(batch)
    assert trainer._signal.informative_groups == 2 and not trainer._signal.all_masked  # groups 1 and 3 train
    keep = torch.tensor([row // 4 in (1, 3) for row in range(16)])
    assert masked["completion_mask"][~keep].sum() == 0 and masked["completion_mask"][keep].sum() > 0

    removed = {
        k: v[keep] if torch.is_tensor(v) and v.dim() > 0 and v.size(0) == 16 else v
        for k, v in trainer.raw.items()
    }
    removed["num_items_in_batch"] = removed["completion_mask"].sum()
    scale = 1.0
    if normaliser == "unmasked":
        assert int(masked["num_items_in_batch"]) == int(removed["num_items_in_batch"]) > 0
    else:
        assert int(masked["num_items_in_batch"]) == int(trainer.raw["completion_mask"].sum())
        scale = float(removed["num_items_in_batch"] / masked["num_items_in_batch"])
        assert 0 < scale < 1

    def grads(inputs):
        trainer.model.zero_grad()
        trainer.compute_loss(trainer.model, inputs).backward()
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}

    with_mask, without_groups = grads(masked), grads(removed)
    if beta:
        assert trainer._metrics["train"]["kl"][-1] > 1e-6  # the KL term is live: policy != reference
    assert with_mask.keys() == without_groups.keys() and with_mask
    assert any(g.abs().sum() > 0 for g in with_mask.values())
    for name in with_mask:
        torch.testing.assert_close(with_mask[name], scale * without_groups[name], rtol=1e-5, atol=1e-7)


def test_curriculum_decides_what_each_step_draws(tiny_model_dir, tmp_path):
    """stages over 4 steps and levels 1-2: steps 1-2 draw level 1 only, steps 3-4 unlock level 2."""
    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        "curriculum.mode=stages",
        "curriculum.replay=0",
        "train.max_steps=4",
        "vote.min_share=0",
    )
    train(cfg)
    rows = metrics(tmp_path / "run")
    assert [r["active_levels"] for r in rows] == [[1], [1], [1, 2], [1, 2]]
    assert [r["level_max"] for r in rows] == [1.0, 1.0, 2.0, 2.0]
    assert [r["level_mean"] for r in rows] == [1.0, 1.0, 2.0, 2.0]  # replay=0: only the newest level


def test_the_adaptive_curriculum_sees_each_generations_votes_one_generation_late(
    tiny_model_dir, tmp_path, monkeypatch
):
    """accelerate's dataloader reads one batch ahead: generation k+1 is drawn before generation k's votes are
    observed (documented at CurriculumSampler)."""
    from cuma_lite.curriculum import CurriculumScheduler

    events: list[str] = []
    draw, observe = CurriculumScheduler.draw, CurriculumScheduler.observe

    def logged_draw(self, step, n):
        events.append(f"draw {step}")
        return draw(self, step, n)

    def logged_observe(self, levels, masked, agreement=None):
        events.append("observe")
        return observe(self, levels, masked, agreement)

    monkeypatch.setattr(CurriculumScheduler, "draw", logged_draw)
    monkeypatch.setattr(CurriculumScheduler, "observe", logged_observe)
    train(small_config(tiny_model_dir, tmp_path / "run", "curriculum.mode=adaptive", "train.max_steps=4"))
    assert events == ["draw 0", "draw 1", "observe", "draw 2", "observe", "draw 3", "observe", "observe"]


def test_the_band_curriculum_observes_each_groups_agreement_with_its_label(tmp_path, monkeypatch):
    """``curriculum.mode=band`` reads, per group, the share of its samples that agree with the label it was
    rewarded against: with ``reward.label=greedy`` that is the greedy answer, not the plurality (counted here
    by hand from the group's answers)."""
    from cuma_lite.answers import answers_equivalent
    from cuma_lite.curriculum import CurriculumScheduler
    from cuma_lite.rewards import MajorityVoteReward

    observed, groups = [], []
    observe, take_votes = CurriculumScheduler.observe, MajorityVoteReward.take_votes

    def logged_observe(self, levels, masked, agreement=None):
        observed.extend(agreement)
        return observe(self, levels, masked, agreement)

    def logged_take_votes(self, ids):
        votes = take_votes(self, ids)
        groups.extend(votes.groups)
        return votes

    monkeypatch.setattr(CurriculumScheduler, "observe", logged_observe)
    monkeypatch.setattr(MajorityVoteReward, "take_votes", logged_take_votes)
    cfg = small_config(
        Path("embedded:tiny-math-r1"), tmp_path / "run", "curriculum.mode=band", "reward.label=greedy",
        "vote.min_share=0", "rollout.max_new_tokens=40", "train.max_steps=3", "data.synth_levels=3-5",
    )  # fmt: skip
    train(cfg)
    by_hand = [
        sum(a is not None and answers_equivalent(a, g.greedy_label) for a in g.answers) / 4 for g in groups
    ]
    assert len(observed) == 12 and observed == by_hand
    assert any(0 < a < 1 for a in observed)  # groups in the band exist, so the test can tell
    weights = [row["band_weights"] for row in metrics(tmp_path / "run")]
    assert len(weights) == 3 and weights[0] != weights[-1]  # logged each step, and they move
    plurality_shares = [g.vote.share for g in groups]
    assert plurality_shares != observed  # the plurality's share is another number here, so the test can tell


@pytest.mark.parametrize("label", ["plurality", "greedy"])
def test_gold_answers_never_reach_training(tmp_path, label):
    """The trainer sees prompt, id and level only; with gold answers corrupted, a model that does answer trains
    bit-identically (only the diagnostic pseudo-label accuracy moves, and it does move). Both labels: the greedy
    one is generated during training, from the prompts alone."""
    from cuma_lite.data.io import write_jsonl
    from cuma_lite.data.synthetic import generate

    rows = generate("arithmetic", [1, 2], 8, seed=3)
    corrupted = [{**r, "answer": str(int(r["answer"]) + 1000), "solution": "\\boxed{0}"} for r in rows]
    runs = {}
    for name, data in (("gold", rows), ("corrupted", corrupted)):
        write_jsonl(tmp_path / f"{name}.jsonl", data)
        cfg = small_config(
            Path("embedded:tiny-math"), tmp_path / name, f"data.path={tmp_path / name}.jsonl", "vote.min_share=0",
            "rollout.max_new_tokens=40", "train.learning_rate=1e-4", "curriculum.mode=off", f"reward.label={label}",
        )  # fmt: skip
        if name == "gold":
            trainer, _ = build(cfg, tmp_path / "columns")
            assert trainer.train_dataset.column_names == ["prompt", "id", "level"]
        train(cfg)
        runs[name] = (final_state(tmp_path / name), metrics(tmp_path / name))
    (w_gold, m_gold), (w_bad, m_bad) = runs["gold"], runs["corrupted"]
    assert all(torch.equal(w_gold[k], w_bad[k]) for k in w_gold)
    volatile = {"pseudo_label_acc", "step_time", "tokens_per_s"}
    for a, b in zip(m_gold, m_bad, strict=True):
        assert {k: v for k, v in a.items() if k not in volatile} == {
            k: v for k, v in b.items() if k not in volatile
        }
    assert max(m["pseudo_label_acc"] for m in m_gold) > 0  # the model's labels are sometimes right...
    assert all(m.get("pseudo_label_acc") in (None, 0.0) for m in m_bad)  # ...and never the corrupted answers


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_resume_after_a_real_kill_continues_exactly(tiny_model_dir, tmp_path, sig):
    """Kill a real `cuma-lite train` after checkpoint-2, rerun with --resume: every step exactly once, and the
    result is the uninterrupted run's, bit for bit: weights, metrics, samples, curriculum and bank state."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out, uninterrupted = tmp_path / "run", tmp_path / "uninterrupted"

    def command(where: Path) -> list[str]:
        return [
            sys.executable, "-m", "cuma_lite", "train", "--preset", "tiny-cpu", "--output", str(where),
            "--set", f"model.name={tiny_model_dir}", "--set", "rollout.num_generations=4",
            "--set", "rollout.max_new_tokens=12", "--set", "train.prompts_per_step=4", "--set", "train.max_steps=12",
            "--set", "train.save_steps=2", "--set", "data.synth_per_level=8", "--set", "eval.per_level=2",
            "--set", "vote.min_share=0", "--set", "train.min_groups_per_update=3",
            "--set", "curriculum.window=4", "--set", "curriculum.min_observations=4",
            "--set", "curriculum.mask_threshold=0.9", "--set", "data.synth_levels=1-3",
            "--set", "curriculum.mode=adaptive",  # tiny-cpu's label (greedy) with a curriculum whose state must resume
            "--set", "train.lr_scheduler=linear",  # and a learning rate whose schedule must resume where it was
        ]  # fmt: skip

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    # as from a terminal: SIGINT at its default, whatever an earlier test left this process ignoring (a child
    # inherits an ignored SIGINT, and Python then never raises KeyboardInterrupt)
    proc = subprocess.Popen(
        command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "checkpoint-2").exists() and (out / "metrics.jsonl").exists():
            lines = (out / "metrics.jsonl").read_text().splitlines()
            if any('"step": 3,' in line and "eval_tag" not in line for line in lines):
                break
        time.sleep(0.1)
    assert proc.poll() is None, (
        f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    )
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=120)
    assert not (out / "model").exists(), proc.stderr.read().decode()[-3000:]  # it really was interrupted
    assert max(m["step"] for m in metrics(out)) >= 3

    resumed = subprocess.run(
        [*command(out), "--resume"], env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and "checkpoint-" in resumed.stdout
    assert [m["step"] for m in metrics(out)] == list(range(1, 13))
    assert [(e["step"], e["eval_tag"]) for e in metrics(out, evals=True)] == [(0, "before"), (12, "after")]

    whole = subprocess.run(command(uninterrupted), env=env, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    a, b = final_state(out), final_state(uninterrupted)
    assert all(torch.equal(a[k], b[k]) for k in a)
    volatile = {"step_time", "tokens_per_s", "epoch"}  # epoch: the Trainer's own count restarts on resume
    assert [{k: v for k, v in m.items() if k not in volatile} for m in metrics(out)] == [
        {k: v for k, v in m.items() if k not in volatile} for m in metrics(uninterrupted)
    ]
    assert (out / "samples.jsonl").read_text() == (uninterrupted / "samples.jsonl").read_text()
    for name in ("curriculum_state.json", "gradient_bank.pt"):
        assert (out / "checkpoint-12" / name).read_bytes() == (
            uninterrupted / "checkpoint-12" / name
        ).read_bytes()
    assert max(m["level_max"] for m in metrics(out)) > 1  # the curriculum did move, so its state was tested
    # ...and the learning rate did decay, so the schedule's state was tested
    rates = [m["learning_rate"] for m in metrics(out)]
    assert rates == sorted(rates, reverse=True) and rates[-1] < rates[0] / 5


def test_resume_refuses_a_changed_config(tiny_model_dir, tmp_path):
    from cuma_lite.errors import UserError
    from cuma_lite.training import rundir

    cfg = small_config(tiny_model_dir, tmp_path / "run")
    rundir.prepare_output_dir(tmp_path / "run", cfg, resume=False, overwrite=False)
    changed = small_config(tiny_model_dir, tmp_path / "run", "vote.min_share=0.2")
    with pytest.raises(UserError, match="vote.min_share"):
        rundir.prepare_output_dir(tmp_path / "run", changed, resume=True, overwrite=False)


def test_resume_accepts_a_run_older_than_a_key_at_its_default(tiny_model_dir, tmp_path):
    """A run written before a config key existed (its config.yaml lacks it) ran with that key's default: it resumes
    if the key is still at the default, and is refused if the key was set to something else."""
    import yaml

    from cuma_lite.errors import UserError
    from cuma_lite.training import rundir

    out = tmp_path / "run"
    rundir.prepare_output_dir(out, small_config(tiny_model_dir, out), resume=False, overwrite=False)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    del saved["train"]["lr_scheduler"]  # as an older version wrote it
    (out / "config.yaml").write_text(yaml.safe_dump(saved))
    rundir.prepare_output_dir(out, small_config(tiny_model_dir, out), resume=True, overwrite=False)
    with pytest.raises(UserError, match="train.lr_scheduler"):
        rundir.prepare_output_dir(
            out, small_config(tiny_model_dir, out, "train.lr_scheduler=linear"), resume=True, overwrite=False
        )


@pytest.mark.parametrize("label", ["plurality", "greedy"])
def test_two_processes_vote_over_whole_groups(tiny_model_dir, tmp_path, label):
    """`accelerate launch --num_processes 2 --cpu`: 3 prompts x 4 generations = 6 completions a process, so the
    middle group is split across the two processes. Every logged vote must equal a single-process vote over the
    whole group (with the greedy label: every reward is agreement with the group's logged greedy answer), and the
    rewards TRL gathered from both processes must be those votes' rewards."""
    import math
    import subprocess
    import sys

    from cuma_lite.answers import answers_equivalent
    from cuma_lite.voting import majority_vote

    out = tmp_path / "run"
    # the greedy label needs a model that answers (a random one never gives a label some samples agree with)
    model, tokens = (tiny_model_dir, 12) if label == "plurality" else ("embedded:tiny-math-r3", 48)
    args = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "cuma_lite", "train", "--output", str(out),
        "--set", f"model.name={model}", "--set", "rollout.num_generations=4",
        "--set", f"rollout.max_new_tokens={tokens}", "--set", "train.prompts_per_step=3", "--set", "train.max_steps=3",
        "--set", "data.synth_per_level=8", "--set", "eval.per_level=0", "--set", "vote.min_share=0",
        "--set", "train.samples_per_step=100", "--set", f"reward.label={label}",
    ]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    groups = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted({g["step"] for g in groups}) == [1, 2, 3]
    assert all(len(g["completions"]) == 4 for g in groups) and len(groups) == 9
    for g in groups:
        assert g["answers"] == [rewards.extract_answer(c) for c in g["completions"]]
        vote = majority_vote(g["answers"], min_share=0)
        if label == "plurality" or vote.masked:
            assert (vote.label, vote.masked, vote.rewards) == (g["pseudo_label"], g["masked"], g["rewards"])
        else:
            greedy = g["pseudo_label"]
            agree = [
                float(a is not None and greedy is not None and answers_equivalent(a, greedy))
                for a in g["answers"]
            ]
            assert g["rewards"] == agree
    assert any(g["pseudo_label"] is not None and 0 < sum(g["rewards"]) < 4 for g in groups)  # not vacuous
    for m in metrics(out):
        scored = [r for g in groups if g["step"] == m["step"] for r in g["rewards"] if r is not None]
        if scored:
            assert math.isclose(m["reward_mean"], sum(scored) / len(scored), rel_tol=1e-6)


def test_lora_run_exports_a_peft_adapter(tiny_model_dir, tmp_path):
    """lora.r > 0: only the adapter trains, and adapter/ reloads with peft onto the base with the same logits."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from cuma_lite.backends import get_backend

    out = tmp_path / "run"
    cfg = small_config(
        tiny_model_dir, out, "lora.r=8", "lora.alpha=16", "vote.min_share=0", "curriculum.mode=off"
    )
    trainer, _ = build(cfg, out)
    tokenizer = trainer.processing_class
    trainer.train()
    adapter_dir = run.save_final(trainer, tokenizer, cfg, get_backend(cfg), out)
    assert adapter_dir == out / "adapter"
    assert (adapter_dir / "adapter_model.safetensors").exists() and (
        adapter_dir / "adapter_config.json"
    ).exists()
    lora_b = [p for n, p in trainer.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: nonzero means it trained

    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter_dir)
    ids = tokenizer(["Q: Compute 1+2.\nA: "], return_tensors="pt").input_ids
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, trainer.model(ids).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("agree", "unlocked"), [(True, True), (False, False)])
def test_adaptive_curriculum_is_fed_the_live_mask_rate(
    tiny_model_dir, tmp_path, monkeypatch, agree, unlocked
):
    """Level 2 unlocks only when level 1's groups stop being masked (here: scripted clear majorities)."""
    group = ["3", "3", "3", "3"] if agree else ["1", "2", "3", None]
    scripted_answers(monkeypatch, [[group] * 4] * 5)
    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        "curriculum.mode=adaptive",
        "curriculum.window=4",
        "curriculum.min_observations=4",
        "curriculum.replay=0",
        "train.max_steps=5",
        "vote.min_share=0.5",
    )
    train(cfg)
    rows = metrics(tmp_path / "run")
    assert rows[0]["level_max"] == 1.0
    assert (max(r["level_max"] for r in rows) == 2.0) is unlocked
    assert [r["mask_rate"] for r in rows] == [0.0 if agree else 1.0] * 5


def test_prompts_longer_than_the_context_are_refused(tiny_model_dir, tmp_path):
    from cuma_lite.data.io import write_jsonl
    from cuma_lite.errors import UserError

    write_jsonl(
        tmp_path / "long.jsonl", [{"problem": "Compute " + "1+" * 200 + "1."}, {"problem": "Compute 1+1."}]
    )
    cfg = small_config(tiny_model_dir, tmp_path / "run", f"data.path={tmp_path / 'long.jsonl'}")
    with pytest.raises(UserError, match=r"prompt id=row-1 is \d+ tokens"):
        train(cfg)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_4bit_lora_runs_on_cpu_after_a_before_eval(tiny_model_dir, tmp_path):
    """bitsandbytes NF4 + LoRA on CPU, with a held-out evaluation first (the repacking trap: the policy is reloaded after it)."""
    pytest.importorskip("bitsandbytes")
    from safetensors.torch import load_file

    out = tmp_path / "run"
    cfg = small_config(
        tiny_model_dir, out, "model.load_in_4bit=true", "lora.r=8", "lora.alpha=16", "vote.min_share=0",
        "eval.per_level=2", "curriculum.mode=off",
    )  # fmt: skip
    train(cfg)
    adapter = load_file(out / "adapter" / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())
    assert [e["eval_tag"] for e in metrics(out, evals=True)] == ["before", "after"]


@pytest.mark.parametrize("accumulation", [1, 2])
def test_gradient_bank_holds_the_weights_until_enough_groups_are_in(
    tiny_model_dir, tmp_path, monkeypatch, accumulation
):
    """min_groups_per_update=2 with one informative group a step: step 1 only banks (nothing moves, not even
    Adam's state), step 2 releases the banked gradient and the weights move."""
    from transformers import TrainerCallback

    one_group = [["1", "1", "1", "2"], ["1", "2", "3", None], ["1", "2", "3", None], ["4", "5", "6", None]]
    scripted_answers(monkeypatch, [one_group, one_group])
    snapshots: list[dict[str, torch.Tensor]] = []

    class Snapshot(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})

        on_step_end = on_train_begin

    with_callback(monkeypatch, Snapshot())
    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        "vote.min_share=0.5",
        "curriculum.mode=off",
        "train.min_groups_per_update=2",
        f"train.gradient_accumulation_steps={accumulation}",
    )
    train(cfg)
    assert len(snapshots) == 3
    assert [r["cuma/update"] for r in metrics(tmp_path / "run")] == [0.0, 1.0]
    assert all(torch.equal(snapshots[0][n], snapshots[1][n]) for n in snapshots[0])
    assert any(not torch.equal(snapshots[1][n], snapshots[2][n]) for n in snapshots[0])


@pytest.mark.parametrize("kind", ["self_certainty", "entropy"])
def test_confidence_rewards_train_without_the_vote(tiny_model_dir, tmp_path, kind):
    from cuma_lite.models.source import resolve_model_path

    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        f"reward.kind={kind}",
        "vote.min_share=0",
        "curriculum.mode=off",
        "train.scale_rewards=group",
    )
    train(cfg)
    steps = metrics(tmp_path / "run")
    assert len(steps) == 2
    assert all(isinstance(r[f"rewards/{kind}/mean"], float) for r in steps)
    if kind == "entropy":
        assert all(r[f"rewards/{kind}/mean"] < 0 for r in steps)
    from safetensors.torch import load_file

    before = load_file(Path(resolve_model_path(str(tiny_model_dir))) / "model.safetensors")
    after = final_state(tmp_path / "run")
    assert any(not torch.equal(before[n], after[n]) for n in before if n in after)


def test_cuda_oom_stops_with_the_knobs_and_the_checkpoint_resumes(tiny_model_dir, tmp_path, monkeypatch):
    """An out-of-memory error in step 2 ends the run with advice (no traceback); checkpoint-1 resumes it."""
    from transformers import TrainerCallback

    from cuma_lite.errors import UserError

    class OutOfMemoryAtStep2(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    cfg = small_config(tiny_model_dir, tmp_path / "run", "train.save_steps=1")
    with monkeypatch.context() as patch:
        with_callback(patch, OutOfMemoryAtStep2())
        with pytest.raises(UserError) as err:
            train(cfg)
    message = str(err.value)
    assert "CUDA out of memory at step 1" in message
    assert (
        "rollout.num_generations" in message and "rollout.max_new_tokens" in message and "--resume" in message
    )
    assert (tmp_path / "run" / "checkpoint-1").is_dir()

    summary = train(cfg, resume=True)
    assert summary["steps"] == 2


def test_a_csv_without_difficulty_is_graded_label_free_before_training(tiny_model_dir, tmp_path):
    """--data takes any supported format with a field mapping; difficulty_source=estimate grades it first."""
    import csv

    path = tmp_path / "questions.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "notes"])
        for i in range(12):
            writer.writerow([f"Compute {i}+{i + 3}.", "no answer here"])
    cfg = small_config(
        tiny_model_dir,
        tmp_path / "run",
        f"data.path={path}",
        "data.problem_field=question",
        "curriculum.difficulty_source=estimate",
    )
    train(cfg)
    graded = [json.loads(line) for line in (tmp_path / "run" / "difficulty.jsonl").read_text().splitlines()]
    assert len(graded) == 12
    assert all(isinstance(r["difficulty"], int) and 0 <= r["majority_share"] <= 1 for r in graded)
    assert [r["problem"] for r in graded] == [f"Compute {i}+{i + 3}." for i in range(12)]
    assert len(metrics(tmp_path / "run")) == 2


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tmp_path):
    """A kill while saving leaves checkpoint-N without the curriculum state (written last): resume before it."""
    from cuma_lite.curriculum import CURRICULUM_STATE
    from cuma_lite.training.rundir import latest_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "model.safetensors").write_bytes(b"")
        if complete:
            (ckpt / CURRICULUM_STATE).write_text("{}")
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert latest_checkpoint(tmp_path / "nothing") is None


def test_a_tensorboard_run_logs_the_cuma_signals_in_the_same_stream(tiny_model_dir, tmp_path):
    """train.report_to=tensorboard: TRL's own metrics and CuMa's (share, mask rate, level, pseudo-label accuracy)
    land in the event files, as a TRL user expects."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    train(small_config(tiny_model_dir, out, "train.report_to=tensorboard", "vote.min_share=0"))
    events = list(out.rglob("events.out.tfevents.*"))
    assert events, "no tensorboard event file was written"
    tags = set()
    for path in events:
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    for tag in ("cuma/majority_share", "cuma/mask_rate", "cuma/level_max", "cuma/pseudo_label_acc", "reward"):
        assert f"train/{tag}" in tags, sorted(tags)


def test_uncentred_shaped_rewards_are_the_advantages_the_loss_sees(tiny_model_dir, tmp_path, monkeypatch):
    """reward.center=false: the trainer replaces TRL's centred advantages by the shaped rewards (a penalised
    completion keeps its -1, the others 0), and a pool of extra samples is drawn for every group."""
    pools = []
    scripted_answers(monkeypatch, [[["1", "1", "1", "2"]] * 4])
    from cuma_lite import rewards as rewards_module

    original = rewards_module.MajorityVoteReward._pool_answers

    def recorded(self, prompts, n_local, n_total):
        found = original(self, prompts, n_local, n_total)
        pools.append(found)
        return {k: (["1", "1", "1", "1"], None) for k in found}  # a pool that makes "2" rare: 1 in 8

    monkeypatch.setattr(rewards_module.MajorityVoteReward, "_pool_answers", recorded)
    cfg = small_config(
        tiny_model_dir, tmp_path / "run", "vote.min_share=0", "curriculum.mode=off", "vote.pool_size=2",
        "reward.positive=0", "reward.negative=1", "reward.rare_share=0.125", "reward.center=false",
    )  # fmt: skip
    trainer, _ = build(cfg, tmp_path / "run")
    batch = [trainer.train_dataset[i] for i in range(4) for _ in range(4)]
    trainer.model.train()
    out = trainer._generate_and_score_completions(batch)
    assert len(pools) == 1 and sorted(pools[0]) == [0, 1, 2, 3]
    assert all(len(extra) == 2 for extra, _ in pools[0].values())  # vote.pool_size=2 extra samples a group
    assert out["advantages"].tolist() == [0.0, 0.0, 0.0, -1.0] * 4  # not TRL's centred [0.25, ..., -0.75]


def test_consolidated_advantages_are_what_the_loss_sees(tiny_model_dir, tmp_path, monkeypatch):
    """reward.consolidate: the trainer replaces TRL's centred advantages by the consolidated ones: a unanimous
    group, which GRPO leaves at 0, gets the bonus on every completion; a 2-2 group keeps GRPO's advantages."""
    scripted_answers(monkeypatch, [[["1", "1", "1", "1"], ["1", "2", "1", "2"]] * 2])
    cfg = small_config(
        tiny_model_dir, tmp_path / "run", "vote.min_share=0", "curriculum.mode=off",
        "reward.consolidate=0.3", "reward.consolidate_share=0.75",
    )  # fmt: skip
    trainer, _ = build(cfg, tmp_path / "run")
    batch = [trainer.train_dataset[i] for i in range(4) for _ in range(4)]
    trainer.model.train()
    out = trainer._generate_and_score_completions(batch)
    expected = [0.3] * 4 + [0.5, -0.5, 0.5, -0.5]
    assert out["advantages"].tolist() == pytest.approx(expected * 2)  # TRL's own: [0] * 4 + [0.5, -0.5, ...]


def test_the_greedy_answer_as_label_trains(tiny_model_dir, tmp_path):
    cfg = small_config(
        tiny_model_dir, tmp_path / "run", "vote.min_share=0", "curriculum.mode=off", "reward.label=greedy"
    )
    summary = train(cfg)
    assert summary["steps"] == 2 and len(metrics(tmp_path / "run")) == 2
