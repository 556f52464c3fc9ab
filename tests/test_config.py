"""The config tree: every shipped preset loads and validates; overrides are typed; mistakes are explained."""

from __future__ import annotations

import pytest

from cuma_lite.config import (
    Config,
    ConfigError,
    dump_config,
    list_presets,
    load_config,
    parse_levels,
    preset_path,
)

SHIPPED = ["tiny-cpu", "0.5b-8gb", "1.5b-12gb", "3b-24gb", "7b-24gb"]


def test_all_presets_are_shipped():
    assert set(SHIPPED) <= set(list_presets())


@pytest.mark.parametrize("name", SHIPPED)
def test_preset_loads_and_documents_itself(name):
    cfg = load_config(name)
    assert isinstance(cfg, Config)
    header = preset_path(name).read_text().splitlines()
    comments = [line for line in header[:20] if line.startswith("#")]
    assert f"cuma-lite train --preset {name}" in "\n".join(comments), "the header must give the exact command"
    assert any("--set" in line for line in comments), "the header must show an override example"
    assert any("Memory" in line or "memory" in line for line in comments)
    if name != "tiny-cpu":
        assert "UNCALIBRATED" in header[0]
    # the resolved config round-trips through YAML
    assert "model:" in dump_config(cfg)


def test_canonical_keys_override():
    cfg = load_config(
        "tiny-cpu",
        [
            "model.name=/tmp/m",
            "model.backend=hf",
            "model.load_in_4bit=true",
            "lora.r=8",
            "lora.alpha=16",
            "rollout.num_generations=4",
            "rollout.max_new_tokens=32",
            "rollout.temperature=0.7",
            "vote.min_share=0",
            "curriculum.mode=off",
            "data.path=x.jsonl",
            "train.max_steps=3",
            "train.learning_rate=1e-5",
            "train.seed=7",
            "train.output_dir=runs/x",
        ],
    )
    assert cfg.model.name == "/tmp/m" and cfg.model.load_in_4bit is True
    assert (cfg.lora.r, cfg.lora.alpha) == (8, 16)
    assert cfg.rollout.num_generations == 4 and cfg.rollout.temperature == 0.7
    assert cfg.vote.min_share == 0.0 and cfg.curriculum.mode == "off"
    assert cfg.data.path == "x.jsonl"
    assert cfg.train.learning_rate == 1e-5 and isinstance(cfg.train.learning_rate, float)
    assert (cfg.train.max_steps, cfg.train.seed, cfg.train.output_dir) == (3, 7, "runs/x")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.nope=1", "valid keys: train.max_steps"),
        ("nosection.x=1", "valid sections"),
        ("train.max_steps=abc", "expected an integer"),
        ("model.load_in_4bit=maybe", "expected a boolean"),
        ("model.backend=jax", "choose one of: hf, unsloth"),
        ("vote.min_share=1.5", "must be in [0, 1)"),
        ("rollout.num_generations=1", "at least 2"),
        ("train.learning_rate=0", "must be in (0, 1)"),
        ("curriculum.mode=random", "curriculum.mode"),
        ("train.lr_scheduler=step", "choose one of: constant, linear, cosine"),
        ("train.warmup_ratio=1.5", "must be in [0, 1)"),
        ("reward.consolidate=-0.1", "reward.consolidate=-0.1 must be >= 0"),
        ("reward.consolidate_share=0", "a share in (0, 1]"),
        ("max_steps=3", "section.name"),
        ("train.max_steps", "key=value"),
    ],
)
def test_bad_overrides_are_explained(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config("tiny-cpu", [override])
    assert fragment in str(err.value)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="Available presets: .*tiny-cpu"):
        load_config("tiny-gpu")


def test_preset_from_a_yaml_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  max_steps: 9\n")
    assert load_config(str(path)).train.max_steps == 9
    path.write_text("train: [1, 2]\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(path))


def test_unsloth_needs_a_vllm_lora_rank():
    with pytest.raises(ConfigError, match="vLLM serves LoRA ranks"):
        load_config("tiny-cpu", ["model.backend=unsloth", "lora.r=12"])
    with pytest.raises(ConfigError, match="LoRA adapters only"):
        load_config("tiny-cpu", ["model.backend=unsloth", "lora.r=0"])


def test_parse_levels():
    assert parse_levels("1-5") == [1, 2, 3, 4, 5]
    assert parse_levels("1,3,5") == [1, 3, 5]
    assert parse_levels("2") == [2]
    with pytest.raises(ConfigError, match="e.g. 1-5"):
        parse_levels("one-five")


def test_consolidation_makes_its_own_advantages_so_it_needs_unscaled_rewards():
    load_config("tiny-cpu", ["reward.consolidate=0.2"])  # tiny-cpu: scale_rewards=none
    with pytest.raises(ConfigError, match="reward.consolidate make the advantages themselves"):
        load_config("tiny-cpu", ["reward.consolidate=0.2", "train.scale_rewards=group"])
    with pytest.raises(ConfigError, match="consolidate shape the vote's reward only"):
        load_config("tiny-cpu", ["reward.consolidate=0.2", "reward.kind=gold"])


def test_batch_mask_normaliser_needs_the_dapo_loss():
    assert load_config("tiny-cpu", ["vote.mask_normaliser=batch"]).vote.mask_normaliser == "batch"
    with pytest.raises(ConfigError, match="needs train.loss_type=dapo"):
        load_config("tiny-cpu", ["vote.mask_normaliser=batch", "train.loss_type=bnpo"])


def test_every_config_field_has_one_line_of_help():
    import dataclasses

    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(
            section.type if isinstance(section.type, type) else getattr(Config(), section.name)
        ):
            help_text = f.metadata.get("help", "")
            assert help_text and "\n" not in help_text, f"{section.name}.{f.name} has no one-line help"


def test_data_settings_are_checked_when_the_config_loads():
    assert load_config("tiny-cpu", ["data.synth_task=rg:chain_sum"]).data.synth_task == "rg:chain_sum"
    with pytest.raises(ConfigError, match="choose one of arithmetic, fractions"):
        load_config("tiny-cpu", ["data.synth_task=poetry"])
    with pytest.raises(ConfigError, match=r"arithmetic has levels 1-5; \[6\] are outside them"):
        load_config("tiny-cpu", ["data.synth_levels=1-6"])


def test_batch_scaled_rewards_need_the_vote_as_the_reward():
    """With another reward kind, masked groups keep their reward, which would enter the batch's std."""
    assert load_config("tiny-cpu", ["train.scale_rewards=batch"]).train.scale_rewards == "batch"
    for kind in ("self_certainty", "entropy", "gold"):
        with pytest.raises(ConfigError, match="rescale the others"):
            load_config("tiny-cpu", ["train.scale_rewards=batch", f"reward.kind={kind}"])


def test_report_to_and_the_gold_control_are_recorded():
    cfg = load_config("tiny-cpu", ["train.report_to=tensorboard", "reward.kind=gold"])
    assert cfg.train.report_to == ["tensorboard"] and not cfg.reward.label_free
    assert load_config("tiny-cpu", ["train.report_to=none"]).train.report_to == []
