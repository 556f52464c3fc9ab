"""Generation at a target difficulty: prompts and parsing, the band filter, dedup/decontamination and resume with a
scripted sampler; then the CPU end-to-end run generate -> self-consistency filter -> difficulty -> train."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pytest

from cuma_lite.data.dedup import DuplicateIndex, deduplicate, normalize_problem
from cuma_lite.data.difficulty import DEFAULT_EDGES, share_band
from cuma_lite.data.generate import generate_at_levels, generation_prompt, parse_generated_problem
from cuma_lite.errors import UserError

# ---- pure -----------------------------------------------------------------------------------------------------


def test_plain_prompt_is_a_list_to_continue_and_chat_names_the_level():
    assert generation_prompt(["A?", "B?"], 2, "plain") == "Q: A?\nQ: B?\nQ: "
    chat = generation_prompt(["A?", "B?"], 2, "chat", top_level=5)
    assert chat[0]["role"] == "user"
    assert "difficulty level 2 (on a scale of 1 to 5)" in chat[0]["content"]
    assert "Problem 1: A?\n\nProblem 2: B?" in chat[0]["content"]


@pytest.mark.parametrize(
    ("text", "style", "expected"),
    [
        ("What is 3+4?\nA: 7", "plain", "What is 3+4?"),
        ("Q: Compute 5-2.\n", "plain", "Compute 5-2."),
        ("short", "plain", None),
        ("", "plain", None),
        ("Problem: Find x if 2x=8.\nIt is linear.\nSolution: x=4", "chat", "Find x if 2x=8.\nIt is linear."),
        ("New problem: How many primes are below 20?", "chat", "How many primes are below 20?"),
    ],
)
def test_parse_generated_problem(text, style, expected):
    assert parse_generated_problem(text, style) == expected


def test_exact_and_near_duplicates():
    assert normalize_problem("Compute 12 + 7.") == normalize_problem("compute 12+7") == "compute12+7"
    long = "A train leaves the station at 3 pm travelling at 60 miles per hour towards a city 240 miles away."
    index = DuplicateIndex().add_all([("math500:1", long), ("seed:2", "Compute 12+7-3.")])
    assert index.match("compute 12 + 7 - 3")[:2] == ("exact", "seed:2")
    assert (
        index.match("Compute 12+7-4.") is None
    )  # short templated problems with another number stay distinct
    kind, key, sim = index.match(long.replace("60", "65"))
    assert (kind, key) == ("near", "math500:1") and 0.85 <= sim < 1
    rows = [
        {"id": "a", "problem": "Find 2+2."},
        {"id": "b", "problem": "find 2 + 2"},
        {"id": "c", "problem": long},
    ]
    kept, dropped = deduplicate(rows, against=DuplicateIndex().add_all([("eval:9", long)]))
    assert [r["id"] for r in kept] == ["a"]
    assert [(d["id"], d["duplicate_kind"], d["duplicate_of"]) for d in dropped] == [
        ("b", "exact", "a"),
        ("c", "exact", "eval:9"),
    ]


# ---- generate_at_levels with a scripted sampler ---------------------------------------------------------------


class ScriptedSampler:
    """A Generator that writes ``Puzzle <n> of level <L>`` (or, every 5th request, a seed problem verbatim);
    solving puzzle n gives ``n % 9`` answers out of 8 that agree (share in eighths), the rest distinct."""

    def __init__(self, seeds: Sequence[str]) -> None:
        self.count = 0
        self.seeds = seeds

    def generate(self, prompts, spec, lora=None, *, on_batch=None):
        from cuma_lite.rollout.contract import Completion

        return [[Completion(t, ()) for t in group] for group in self.sample(prompts, k=spec.n)]

    def sample(self, prompts, *, k):
        if k == 1:
            out = []
            for p in prompts:
                self.count += 1
                level = len(p.split("Q: ")) - 1  # the shots' count carries no level: read it from the shots
                shot = p.split("Q: ")[1].strip()
                copy = self.count % 5 == 0
                out.append([shot if copy else f"Puzzle {self.count} of level {shot[-2]} ({level})"])
            return out
        groups = []
        for p in prompts:
            n = int(re.search(r"Puzzle (\d+)", p).group(1))
            agree = n % 9
            groups.append(["\\boxed{7}" if i < agree else f"\\boxed{{{100 + i}}}" for i in range(k)])
        return groups


def seed_rows() -> list[dict]:
    return [{"id": f"s{lv}{i}", "problem": f"Seed problem {i} at level {lv}.", "difficulty": lv} for lv in (1, 2, 3) for i in range(4)]  # fmt: skip


def test_kept_rows_are_in_their_level_band_and_never_duplicates(tmp_path):
    seeds = seed_rows()
    sampler = ScriptedSampler([s["problem"] for s in seeds])
    out = tmp_path / "gen.jsonl"
    summary = generate_at_levels(
        sampler, out, model_name="scripted", levels=[1, 2, 3], per_level=3, seeds=seeds, eval_sets=[],
        shots=2, samples=8, batch=6, max_rounds=10, prompt_style="plain",
    )  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["kept_per_level"] == {1: 3, 2: 3, 3: 3} and not summary["short"]
    assert summary["duplicates"] > 0 and summary["off_band"] > 0
    assert sorted(r["id"] for r in rows) == sorted(f"gen-L{lv}-{i:06d}" for lv in (1, 2, 3) for i in range(3))
    seed_ids = {s["id"]: s for s in seeds}
    for r in rows:
        low, high = share_band(r["difficulty"], DEFAULT_EDGES)
        assert low <= r["majority_share"] < high or r["majority_share"] == high == 1.0
        assert r["difficulty"] == r["target_difficulty"]
        assert r["generator"] == "scripted" and r["pseudo_label"] in ("7", "100")
        assert all(seed_ids[s]["difficulty"] == r["difficulty"] for s in r["seed_ids"])  # shots of its level
        assert r["problem"].startswith("Puzzle")  # seed copies never kept
    assert len({normalize_problem(r["problem"]) for r in rows}) == len(rows)
    # rerunning with the same settings resumes: nothing more to do, nothing rewritten
    again = generate_at_levels(
        ScriptedSampler([]), out, model_name="scripted", levels=[1, 2, 3], per_level=3, seeds=seeds,
        eval_sets=[], shots=2, samples=8, batch=6, max_rounds=10, prompt_style="plain",
    )  # fmt: skip
    assert again["candidates"] == 0 and len(out.read_text().splitlines()) == 9
    with pytest.raises(UserError, match="other settings"):
        generate_at_levels(
            ScriptedSampler([]), out, model_name="scripted", levels=[1, 2, 3], per_level=4, seeds=seeds,
            eval_sets=[], shots=2, samples=8, prompt_style="plain",
        )  # fmt: skip


def test_a_level_without_seeds_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"no problems at level\(s\) \[4\]"):
        generate_at_levels(
            ScriptedSampler([]), tmp_path / "g.jsonl", model_name="x", levels=[1, 4], per_level=1,
            seeds=seed_rows(), eval_sets=[],
        )  # fmt: skip
    assert not (tmp_path / "g.jsonl").exists()


# ---- CPU end to end -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_filter_difficulty_train_end_to_end(tmp_path):
    """The embedded tiny model writes candidates from arithmetic seeds, solves each 4 times, keeps those in their
    level's band (decontaminated against MATH-500/AIME/AMC); `data difficulty` re-grades the file; a 1-step
    training run reads it directly."""
    from typer.testing import CliRunner

    from cuma_lite.cli import app
    from cuma_lite.config import load_config
    from cuma_lite.data.io import write_jsonl
    from cuma_lite.data.synthetic import generate
    from cuma_lite.training.run import train

    runner = CliRunner()
    seeds = tmp_path / "seeds.jsonl"
    write_jsonl(seeds, generate("arithmetic", [1, 2, 3], 10, seed=5))
    gen = tmp_path / "gen.jsonl"
    result = runner.invoke(
        app,
        ["data", "generate", "--model", "embedded:tiny-math-strong", "--seeds", str(seeds), "--levels", "1-3",
         "--per-level", "2", "--samples", "4", "--edges", "0.3,0.7", "--batch", "6", "--max-rounds", "3",
         "--out", str(gen)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in gen.read_text().splitlines()]
    assert rows, result.output
    seed_problems = {
        normalize_problem(json.loads(line)["problem"]) for line in seeds.read_text().splitlines()
    }
    for r in rows:
        low, high = share_band(r["difficulty"], (0.3, 0.7))
        assert low <= r["majority_share"] < high or r["majority_share"] == high == 1.0
        assert normalize_problem(r["problem"]) not in seed_problems
        assert r["generator"] == "embedded:tiny-math-strong" and len(r["seed_ids"]) == 3
    graded = tmp_path / "graded.jsonl"
    result = runner.invoke(
        app, ["data", "difficulty", "--model", "embedded:tiny-math-strong", "--data", str(gen), "--samples", "4",
              "--max-new-tokens", "48", "--out", str(graded)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    regraded = [json.loads(line) for line in graded.read_text().splitlines()]
    assert [r["id"] for r in regraded] == [r["id"] for r in rows]
    assert all(r["given_difficulty"] == g["difficulty"] for r, g in zip(regraded, rows, strict=True))
    cfg = load_config(
        "tiny-cpu",
        [f"data.path={graded}", f"train.output_dir={tmp_path / 'run'}", "rollout.num_generations=4",
         "rollout.max_new_tokens=12", "train.prompts_per_step=2", "train.max_steps=1", "train.save_steps=100",
         "eval.per_level=0", "curriculum.mode=off"],
    )  # fmt: skip
    train(cfg)
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("eval_tag" not in s for s in steps)
