"""Problems written by a model at a target difficulty, kept only when the policy's own agreement confirms it.

``cuma-lite data generate``: for each target level L, a model is shown a few seed problems of level L (few-shot)
and writes a new one. Each candidate is then

1. checked against everything seen -- the seed pool, the evaluation sets (decontamination) and the other
   candidates -- for exact and near duplicates (:mod:`cuma_lite.data.dedup`), and dropped if it is one;
2. solved K times by the same model; its majority share gives a measured level (:mod:`cuma_lite.data.difficulty`
   with the same edges), and it is kept only if that level is L: the share falls in L's band.

Kept rows record ``difficulty`` (= the target, confirmed), ``majority_share``, ``pseudo_label``, the ``generator``
and the ``seed_ids`` it was prompted with. There is no gold answer: ``pseudo_label`` is the policy's majority
answer, which is all label-free training needs (and all it would be allowed to see).

Seed levels and share levels are matched by number: seed problems of MATH level 3 prompt candidates that must land
in the 3rd share band. That is the hypothesis the issue asks to test, not a known fact; ``data difficulty`` on
math500 measures how far it holds for a given model.

Work is done in rounds (one candidate per short level per ``batch`` slot); after each round the accepted rows are
appended and fsynced and the round number is saved, so a killed job resumes where it stopped. Writing and solving
go through any :class:`~cuma_lite.rollout.contract.Generator` (the HF one on a CPU, vLLM on a GPU).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cuma_lite.data.dedup import DEFAULT_THRESHOLD, DuplicateIndex
from cuma_lite.data.difficulty import DEFAULT_EDGES, annotate, check_edges, num_levels, read_finished
from cuma_lite.errors import ConfigError, UserError
from cuma_lite.rollout.contract import Generator, SamplingSpec, texts

if TYPE_CHECKING:
    from cuma_lite.prompts import Prompt, PromptStyle

logger = logging.getLogger(__name__)

DEFAULT_EVAL_SETS = ("math500", "aime24", "amc23")
GENERATE_INSTRUCTION = (
    "Here are {n} math problems of difficulty level {level} (on a scale of 1 to {top}):\n\n{examples}\n\n"
    "Write one new problem of the same difficulty level, different from these, with a single final answer. "
    "Reply with the problem statement only."
)
_ANSWER_LINE = re.compile(r"^\s*(?:A:|Answer|Solution)", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?:Q:|Problem\s*(?:\d+)?\s*[:.]|New problem\s*:|\d+[.)])\s*", re.IGNORECASE)
MIN_PROBLEM_CHARS = 8


# ---- pure core ------------------------------------------------------------------------------------------------


def generation_prompt(
    examples: Sequence[str], level: int, style: PromptStyle, top_level: int = 5
) -> str | list[dict[str, str]]:
    """The few-shot request for one new problem at ``level``.

    ``plain``: ``Q: ex1\\nQ: ex2\\nQ: `` -- a base model continues the list. ``chat``: an instruction listing the
    examples with their level."""
    if style == "plain":
        return "".join(f"Q: {e}\n" for e in examples) + "Q: "
    listed = "\n\n".join(f"Problem {i}: {e}" for i, e in enumerate(examples, start=1))
    content = GENERATE_INSTRUCTION.format(n=len(examples), level=level, top=top_level, examples=listed)
    return [{"role": "user", "content": content}]


def parse_generated_problem(text: str, style: PromptStyle, max_chars: int = 2000) -> str | None:
    """The problem in a generator's reply, or None when there is none worth solving.

    ``plain``: the first line. ``chat``: the reply up to a line that starts an answer or solution. A leading
    ``Q:``/``Problem:``/``1.`` is dropped."""
    lines = text.strip().splitlines()
    if style == "plain":
        kept = lines[:1]
    else:
        kept = []
        for line in lines:
            if _ANSWER_LINE.match(line):
                break
            kept.append(line)
    problem = _PREFIX.sub("", "\n".join(kept).strip(), count=1).strip()
    if len(problem) < MIN_PROBLEM_CHARS or len(problem) > max_chars:
        return None
    return problem


def seed_pool(rows: Sequence[dict[str, Any]], levels: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Seed rows by (integer) level; a :class:`UserError` naming the levels without any seed."""
    pool: dict[int, list[dict[str, Any]]] = {level: [] for level in levels}
    for r in rows:
        d = r.get("difficulty")
        if isinstance(d, (int, float)) and float(d).is_integer() and int(d) in pool:
            pool[int(d)].append(r)
    empty = [level for level, rs in pool.items() if not rs]
    if empty:
        raise UserError(
            f"the seed file has no problems at level(s) {empty}; give --seeds with a difficulty column covering "
            f"every level in --levels (or run `cuma-lite data difficulty` on it first)."
        )
    return pool


def _sample(
    generator: Generator,
    prompts: Sequence[Prompt],
    *,
    k: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
) -> list[list[str]]:
    spec = SamplingSpec(n=k, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return texts(generator.generate(prompts, spec))


def solve_and_grade(
    rows: Sequence[dict[str, Any]],
    generator: Generator,
    *,
    samples: int,
    edges: Sequence[float],
    style: PromptStyle,
    max_new_tokens: int,
    temperature: float,
    seed: int,
) -> list[dict[str, Any]]:
    """``rows`` annotated with the measured difficulty (:func:`cuma_lite.data.difficulty.annotate`)."""
    from cuma_lite.answers import extract_answer
    from cuma_lite.prompts import format_prompt

    groups = _sample(
        generator,
        [format_prompt(r["problem"], style) for r in rows],
        k=samples,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
    )
    return [annotate(r, [extract_answer(c) for c in g], edges) for r, g in zip(rows, groups, strict=True)]


# ---- the job --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateJob:
    model: str
    levels: tuple[int, ...]
    per_level: int
    seeds: str
    shots: int
    samples: int
    edges: tuple[float, ...]
    prompt_style: str
    seed: int


def build_contamination_index(
    seeds: Sequence[dict[str, Any]], eval_sets: Sequence[str], threshold: float
) -> DuplicateIndex:
    """Seeds and evaluation sets (benchmark names or files) in one index; keys say where a problem came from."""
    from cuma_lite.benchmarks import BENCHMARKS, benchmark_path
    from cuma_lite.data.loaders import load_rows

    index = DuplicateIndex(threshold)
    index.add_all((f"seed:{r['id']}", r["problem"]) for r in seeds)
    for spec in eval_sets:
        rows = load_rows(benchmark_path(spec) if spec in BENCHMARKS else spec)
        index.add_all((f"{spec}:{r['id']}", r["problem"]) for r in rows)
    return index


def generate_at_levels(
    generator: Generator,
    out: str | Path,
    *,
    model_name: str,
    levels: Sequence[int],
    per_level: int,
    seeds: Sequence[dict[str, Any]],
    seeds_name: str = "math500",
    eval_sets: Sequence[str] = DEFAULT_EVAL_SETS,
    shots: int = 3,
    samples: int = 8,
    edges: Sequence[float] = DEFAULT_EDGES,
    prompt_style: PromptStyle = "plain",
    batch: int = 16,
    max_rounds: int = 20,
    generate_tokens: int = 64,
    solve_tokens: int = 128,
    temperature: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
) -> dict[str, Any]:
    """Fill ``out`` (JSON Lines) with ``per_level`` confirmed problems at each of ``levels``; resumable.

    Returns a summary: kept per level, candidates written, parse failures, duplicates, off-band rejections, and
    the rounds run. A level still short after ``max_rounds`` is reported, not an error."""
    edges = check_edges(edges)
    top = num_levels(edges)
    bad = [lv for lv in levels if not 1 <= lv <= top]
    if bad:
        raise ConfigError(
            f"--levels {list(levels)}: {bad} outside 1..{top}, the levels the edges {list(edges)} make."
        )
    if per_level < 1 or shots < 1 or samples < 2 or batch < 1:
        raise ConfigError("per_level, shots and batch must be >= 1, and samples >= 2.")
    pool = seed_pool(seeds, levels)
    out = Path(out)
    job = GenerateJob(
        model_name, tuple(levels), per_level, seeds_name, shots, samples, edges, prompt_style, seed
    )
    kept = read_finished(out)
    start_round = _resume_round(out, job, bool(kept))
    index = build_contamination_index(seeds, eval_sets, threshold)
    index.add_all((str(r["id"]), r["problem"]) for r in kept)
    have = {lv: sum(r["difficulty"] == lv for r in kept) for lv in levels}
    stats = {"candidates": 0, "unparsed": 0, "duplicates": 0, "off_band": 0}
    rng_base = f"generate:{seed}"
    rounds = start_round
    for rounds in range(start_round, max_rounds):
        short = [lv for lv in levels if have[lv] < per_level]
        if not short:
            break
        rng = random.Random(f"{rng_base}:{rounds}")
        requests = []
        for lv in short:
            for _ in range(batch):
                shot_rows = rng.sample(pool[lv], min(shots, len(pool[lv])))
                requests.append((lv, shot_rows))
        prompts = [generation_prompt([r["problem"] for r in s], lv, prompt_style, top) for lv, s in requests]
        replies = _sample(
            generator,
            prompts,
            k=1,
            temperature=temperature,
            max_new_tokens=generate_tokens,
            seed=seed + 7919 * rounds,
        )
        candidates = []
        for (lv, shot_rows), reply in zip(requests, replies, strict=True):
            problem = parse_generated_problem(reply[0], prompt_style)
            stats["candidates"] += 1
            if problem is None:
                stats["unparsed"] += 1
                continue
            if index.match(problem) is not None:
                stats["duplicates"] += 1
                continue
            index.add(f"candidate:{rounds}:{len(candidates)}", problem)
            candidates.append(
                {"problem": problem, "target_difficulty": lv, "generator": model_name,
                 "seed_ids": [str(r["id"]) for r in shot_rows], "round": rounds}
            )  # fmt: skip
        graded = solve_and_grade(
            candidates, generator, samples=samples, edges=edges, style=prompt_style,
            max_new_tokens=solve_tokens, temperature=temperature, seed=seed + 7919 * rounds + 1,
        ) if candidates else []  # fmt: skip
        accepted = []
        for row in graded:
            lv = row["target_difficulty"]
            if row["difficulty"] != lv:
                stats["off_band"] += 1
            elif have[lv] < per_level:
                accepted.append({"id": f"gen-L{lv}-{have[lv]:06d}", **row})
                have[lv] += 1
        _append(out, accepted)
        _save_round(out, job, rounds + 1)
        logger.info("round %d: kept %s", rounds, have)
    else:
        rounds = max_rounds
    return {
        "out": str(out),
        "kept_per_level": have,
        "short": {lv: per_level - n for lv, n in have.items() if n < per_level},
        "rounds": rounds,
        **stats,
    }


def _append(out: Path, rows: Sequence[dict[str, Any]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        fh.flush()
        os.fsync(fh.fileno())


def _meta(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


def _resume_round(out: Path, job: GenerateJob, has_rows: bool) -> int:
    meta = _meta(out)
    current = {**asdict(job), "levels": list(job.levels), "edges": list(job.edges)}
    if not meta.exists():
        if has_rows:
            raise UserError(
                f"{out} exists but was not written by `data generate` (no {meta.name}); use another --out."
            )
        return 0
    stored = json.loads(meta.read_text())
    changed = [k for k in current if stored.get("job", {}).get(k) != current[k]]
    if changed:
        raise UserError(
            f"{out} was started with other settings ({', '.join(changed)} differ); rerun with the same settings "
            "to resume, or give another --out."
        )
    return int(stored.get("rounds_done", 0))


def _save_round(out: Path, job: GenerateJob, rounds_done: int) -> None:
    current = {**asdict(job), "levels": list(job.levels), "edges": list(job.edges)}
    tmp = _meta(out).with_suffix(".tmp")
    tmp.write_text(json.dumps({"job": current, "rounds_done": rounds_done}, indent=1) + "\n")
    os.replace(tmp, _meta(out))


def generate_from_source(
    model: str,
    out: str | Path,
    *,
    levels: Sequence[int],
    per_level: int,
    seeds: str | None = None,
    eval_sets: Sequence[str] = DEFAULT_EVAL_SETS,
    prompt_style: PromptStyle | None = None,
    batch_size: int = 64,
    fields: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """``cuma-lite data generate``: load the seeds (default: the packaged MATH-500 by level) and the model (``hf``
    backend), then :func:`generate_at_levels`."""
    from cuma_lite.backends.hf import load_inference_model
    from cuma_lite.benchmarks import benchmark_path
    from cuma_lite.data.loaders import load_rows
    from cuma_lite.models.source import resolve_source
    from cuma_lite.rollout.hf import HFGenerator

    seed_rows = load_rows(seeds or benchmark_path("math500"), **(fields or {}))
    source = resolve_source(model)
    default_style, default_tokens = source.generation_defaults()
    style = prompt_style or default_style
    solve_tokens = kwargs.pop("solve_tokens", None) or default_tokens
    generator = HFGenerator(*load_inference_model(source), batch_size=batch_size)
    return generate_at_levels(
        generator, out, model_name=model, levels=levels, per_level=per_level, seeds=seed_rows,
        seeds_name=str(seeds or "math500"), eval_sets=eval_sets, prompt_style=style, solve_tokens=solve_tokens,
        **kwargs,
    )  # fmt: skip
