"""The embedded tiny model: tokenizer round trip, the shipped weights, and greedy evaluation against gold."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import transformers

from cuma_lite.data.synthetic import generate
from cuma_lite.evaluation import format_accuracy_table, greedy_accuracy
from cuma_lite.models.tiny import (
    EMBEDDED_MODELS,
    LADDER,
    build_model,
    build_tokenizer,
    embedded_path,
    load_embedded,
)
from cuma_lite.prompts import format_prompt
from cuma_lite.rollout.hf import HFGenerator

TEXTS = [
    format_prompt("Compute 12+7-3."),
    "12+7=19. 19-3=16. \\boxed{16}",
    "5-30=-25. -25+49=24. \\boxed{24}",
    "Solve 3(x+2)+1=x+17.",
    "Please reason step by step,\n\n  and put your final answer within \\boxed{}.\t x's",
    "unicode: héllo wörld ≤ 42",
    "<|endoftext|>",
]


@pytest.fixture(scope="module")
def tiny_math():
    torch.set_num_threads(2)
    return load_embedded("tiny-math")


def test_tokenizer_round_trip_through_auto_classes(tmp_path):
    # transformers 5 rebuilds a qwen2 tokenizer from vocab+merges on load: ids must not change silently.
    tokenizer = build_tokenizer()
    before = [tokenizer(t)["input_ids"] for t in TEXTS]
    build_model(len(tokenizer), hidden=32, layers=1, heads=2, kv_heads=1, intermediate=64).save_pretrained(
        tmp_path
    )
    tokenizer.save_pretrained(tmp_path)
    reloaded = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert [reloaded(t)["input_ids"] for t in TEXTS] == before
    assert [reloaded.decode(ids) for ids in before] == TEXTS
    assert reloaded.padding_side == "left"
    assert reloaded.eos_token_id == reloaded.pad_token_id == 256 == len(reloaded) - 1


def test_tokenizer_is_digit_level_and_concatenates():
    tokenizer = build_tokenizer()
    ids = tokenizer("1234")["input_ids"]
    assert ids == [ord(c) for c in "1234"]  # one token per digit; id == byte value
    prompt, completion = TEXTS[0], TEXTS[1]
    assert tokenizer(prompt + completion)["input_ids"] == (
        tokenizer(prompt)["input_ids"] + tokenizer(completion)["input_ids"]
    )


def test_shipped_model_loads_with_auto_classes(tiny_math):
    model, tokenizer = tiny_math
    assert isinstance(model, transformers.Qwen2ForCausalLM)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert tokenizer(TEXTS[1])["input_ids"] == build_tokenizer()(TEXTS[1])["input_ids"]
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n_params < 1.5e6
    assert model.config.tie_word_embeddings
    assert (embedded_path("tiny-math-strong") / "model.safetensors").is_file()


def test_embedded_path_rejects_unknown_names():
    with pytest.raises(ValueError, match="tiny-math"):
        embedded_path("gpt-5")
    assert EMBEDDED_MODELS[:2] == ("tiny-math", "tiny-math-strong")
    assert all(name in EMBEDDED_MODELS for name in LADDER)


# The original two bases are never rebuilt: the reproduction's published numbers were measured on these bytes.
ORIGINAL_WEIGHTS = {
    "tiny-math": "416b53f4c0a8e89990d8a31c46bb394ac91f31b357d48f25d0fbefb7e9207856",
    "tiny-math-strong": "86ec555616620412a6055ec0ff5896ae42a7d90746c048ee39c7bff088207689",
}


def test_original_bases_are_unchanged():
    for name, digest in ORIGINAL_WEIGHTS.items():
        assert hashlib.sha256((embedded_path(name) / "model.safetensors").read_bytes()).hexdigest() == digest


def ladder_cards() -> list[dict]:
    return [json.loads((embedded_path(name) / "card.json").read_text()) for name in LADDER]


def test_ladder_cards_describe_one_run_on_the_sft_split_of_rising_strength():
    cards = ladder_cards()
    assert [c["name"] for c in cards] == list(LADDER) and [c["rung"] for c in cards] == [1, 2, 3, 4, 5]
    assert len({c["command"] for c in cards}) == 1 and "--ladder" in cards[0]["command"]
    assert len({json.dumps(c["val_curve"]) for c in cards}) == 1  # one run, one validation curve
    steps = [c["steps"] for c in cards]
    assert steps == sorted(set(steps))
    for card in cards:
        assert card["train_data"]["split"] == "sft"
        assert card["val_data"]["split"] == "val" and card["test_data"]["split"] == "test"
        assert card["test_data"]["per_level"] >= 300 and card["val_data"]["per_level"] >= 150
        assert card["test_greedy_accuracy"]["n_per_level"] == dict.fromkeys(
            "12345", card["test_data"]["per_level"]
        )
        # The val accuracy on the card is the curve's point at the snapshot step.
        point = next(p for p in card["val_curve"] if p["step"] == card["steps"])
        assert point["overall"] == card["val_greedy_accuracy"]["overall"]
        assert (embedded_path(card["name"]) / "model.safetensors").stat().st_size < 5_000_000
    for key in ("val_greedy_accuracy", "test_greedy_accuracy"):
        overall = [c[key]["overall"] for c in cards]
        assert overall == sorted(set(overall)), (key, overall)  # strictly stronger up the ladder
    test = [c["test_greedy_accuracy"]["overall"] for c in cards]
    assert 0.15 <= test[0] <= 0.25 and 0.5 <= test[-1] <= 0.65


def test_greedy_accuracy_per_level_and_grading(tiny_math):
    model, tokenizer = tiny_math
    model.train()
    items = generate("arithmetic", [1, 5], 40, seed=1000)  # the asset cards' held-out seed: unseen in SFT
    result = greedy_accuracy(HFGenerator(model, tokenizer, batch_size=40), items, max_new_tokens=96)
    assert model.training  # the caller's mode is restored
    assert set(result["per_level"]) == {1, 5}
    assert [result["per_level"][lvl]["n"] for lvl in (1, 5)] == [40, 40]
    assert result["n"] == 80 and len(result["predictions"]) == 80
    assert result["correct"] == sum(p["correct"] for p in result["predictions"])
    # A real property of the shipped weights (greedy decoding is deterministic): right on many 2-operand
    # problems, worse on 6-operand ones.
    level1, level5 = result["per_level"][1]["accuracy"], result["per_level"][5]["accuracy"]
    assert level1 > 0.3
    assert level5 < level1
    # Grading reads the gold answer: the same completions graded against wrong golds score zero.
    wrong = [{**it, "answer": str(int(it["answer"]) + 1000)} for it in items[:40]]
    assert (
        greedy_accuracy(HFGenerator(model, tokenizer, batch_size=40), wrong, max_new_tokens=96)["correct"]
        == 0
    )
    table = format_accuracy_table(result, result)
    assert table.row_count == 3  # two levels and "all"


@pytest.mark.slow
def test_ladder_weights_reproduce_their_cards():
    # The weakest and strongest rungs on their cards' 300 level-1 test problems, evaluated as the cards were
    # (72 new tokens, batches of 64): exactly the cards' accuracy, and far apart.
    items = generate("arithmetic", [1], 300, seed=0, split="test")
    accuracy = {}
    for name in (LADDER[0], LADDER[-1]):
        model, tokenizer = load_embedded(name)
        card = json.loads((embedded_path(name) / "card.json").read_text())
        assert card["test_data"] == {"task": "arithmetic", "split": "test", "per_level": 300, "seed": 0}
        result = greedy_accuracy(HFGenerator(model, tokenizer, batch_size=64), items, max_new_tokens=72)
        accuracy[name] = round(result["accuracy"], 4)
        assert accuracy[name] == card["test_greedy_accuracy"]["per_level"]["1"]
    assert accuracy[LADDER[-1]] > accuracy[LADDER[0]] + 0.3  # 0.91 against 0.48
