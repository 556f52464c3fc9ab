"""Label-free difficulty: how much the current policy agrees with itself on a question.

Sample K answers per question, take the majority vote (:func:`cuma_lite.voting.majority_vote`, TTRL's plurality:
``min_share=0``) and read its **majority share** -- the fraction of the K answers in the largest class of
equivalent answers -- as confidence. High agreement means easy. The share is binned into levels by increasing
``edges``: with ``edges=(0.2, 0.4, 0.6, 0.8)`` a share of at least 0.8 is level 1 (easiest), below 0.2 level 5.
Each question gets three columns: ``difficulty`` (the level), ``majority_share`` and ``pseudo_label`` (the majority
answer, None when no sample stated one). A difficulty the input already had is kept as ``given_difficulty``.

This is the signal CuMa's curriculum orders by and its mask thresholds, measured before training instead of
during it. It is no oracle: a confidently wrong policy calls a hard question easy. :func:`spearman` measures how
well it agrees with a human grading (MATH's ``level``).

The top of this module is pure (no torch): binning, bands, Spearman. :func:`estimate_difficulty` samples with a
loaded model, and :func:`estimate_difficulty_file` is the resumable ``cuma-lite data difficulty`` job: it appends
finished rows chunk by chunk (flushed and fsynced), skips ids already in the output, and refuses to resume an output
made with other settings.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cuma_lite.errors import ConfigError, UserError

if TYPE_CHECKING:
    from cuma_lite.prompts import PromptStyle
    from cuma_lite.rollout.contract import Generator, SamplingSpec

logger = logging.getLogger(__name__)

DEFAULT_EDGES: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
"""Five levels: share >= 0.8 is level 1 (easy) ... share < 0.2 is level 5 (hard)."""
NEW_COLUMNS = ("difficulty", "majority_share", "pseudo_label")

# ---- pure core ------------------------------------------------------------------------------------------------


def check_edges(edges: Sequence[float]) -> tuple[float, ...]:
    """Edges must be strictly increasing numbers in (0, 1]; returns them as a tuple."""
    values = tuple(edges)
    if not values:
        raise ConfigError(
            "difficulty edges are empty; give increasing shares, e.g. 0.2,0.4,0.6,0.8 (5 levels)."
        )
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1 for v in values):
        raise ConfigError(f"difficulty edges {list(values)} must be shares in (0, 1], e.g. 0.2,0.4,0.6,0.8.")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ConfigError(
            f"difficulty edges {list(values)} must be strictly increasing, e.g. 0.2,0.4,0.6,0.8."
        )
    return values


def parse_edges(spec: str) -> tuple[float, ...]:
    """``"0.2,0.4,0.6,0.8"`` -> (0.2, 0.4, 0.6, 0.8), checked."""
    try:
        values = [float(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--edges {spec!r}: give comma-separated shares, e.g. 0.2,0.4,0.6,0.8.") from None
    return check_edges(values)


def num_levels(edges: Sequence[float]) -> int:
    return len(edges) + 1


def level_from_share(share: float, edges: Sequence[float] = DEFAULT_EDGES) -> int:
    """The level of a majority share: 1 (easiest) when ``share >= edges[-1]`` ... ``len(edges)+1`` below
    ``edges[0]``. A share equal to an edge belongs to the easier level."""
    return len(edges) + 1 - bisect.bisect_right(edges, share)


def share_band(level: int, edges: Sequence[float] = DEFAULT_EDGES) -> tuple[float, float]:
    """``(low, high)``: the shares that give ``level`` are ``low <= share < high`` (``high`` is inclusive at 1)."""
    n = len(edges)
    if not 1 <= level <= n + 1:
        raise ConfigError(f"level {level} is outside 1..{n + 1} (the levels {n} edges make).")
    bounds = (0.0, *edges, 1.0)
    return bounds[n + 1 - level], bounds[n + 2 - level]


def annotate(row: dict[str, Any], answers: Sequence[str | None], edges: Sequence[float]) -> dict[str, Any]:
    """``row`` plus ``difficulty``, ``majority_share`` and ``pseudo_label`` from its K sampled answers."""
    from cuma_lite.voting import majority_vote

    vote = majority_vote(answers, min_share=0.0)  # TTRL's plurality: the label the reward would use
    out = dict(row)
    if row.get("difficulty") is not None:
        out["given_difficulty"] = row["difficulty"]
    out["difficulty"] = level_from_share(vote.share, edges)
    out["majority_share"] = round(vote.share, 6)
    out["pseudo_label"] = vote.label
    return out


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation with ties (Pearson correlation of average ranks); None if either side is
    constant or there are fewer than two pairs."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs pairs: got {len(x)} and {len(y)} values.")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / (sxx * syy) ** 0.5


def agreement(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """How the estimate agrees with a given grading: Spearman of ``given_difficulty`` with ``difficulty`` and
    with ``-majority_share`` (the unbinned signal), over rows that have both. None without given difficulties."""
    pairs = [r for r in rows if r.get("given_difficulty") is not None and r.get("majority_share") is not None]
    if not pairs:
        return None
    given = [float(r["given_difficulty"]) for r in pairs]
    return {
        "n": len(pairs),
        "spearman_level": spearman(given, [float(r["difficulty"]) for r in pairs]),
        "spearman_share": spearman(given, [-float(r["majority_share"]) for r in pairs]),
    }


# ---- sampling with a model (torch imported lazily) ------------------------------------------------------------


def estimate_difficulty(
    rows: Sequence[dict[str, Any]],
    generator: Generator,
    spec: SamplingSpec,
    *,
    edges: Sequence[float] = DEFAULT_EDGES,
    prompt_style: PromptStyle = "plain",
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Rows (each with ``problem``) annotated by :func:`annotate` from ``spec.n`` sampled answers each.

    In memory, in the rows' order. ``progress`` shows a rich bar unless ``on_batch`` (called with the number of
    rows done per batch) is given instead."""
    from cuma_lite.answers import extract_answer
    from cuma_lite.prompts import format_prompt
    from cuma_lite.rollout.contract import texts

    edges = check_edges(edges)
    if spec.n < 2:
        raise ConfigError(
            f"samples={spec.n}: a majority share needs at least 2 samples per question (try 8)."
        )
    if not rows:
        return []
    prompts = [format_prompt(r["problem"], prompt_style) for r in rows]
    if progress and on_batch is None:
        with _progress_bar() as bar:
            task = bar.add_task("difficulty", total=len(rows))
            groups = texts(generator.generate(prompts, spec, on_batch=lambda n: bar.advance(task, n)))
    else:
        groups = texts(generator.generate(prompts, spec, on_batch=on_batch))
    return [
        annotate(row, [extract_answer(c) for c in completions], edges)
        for row, completions in zip(rows, groups, strict=True)
    ]


def _progress_bar() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


# ---- the resumable file job -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DifficultyJob:
    """What an output file was made with; a resume must use the same (stored next to it as ``OUT.meta.json``)."""

    data: str
    model: str
    samples: int
    edges: tuple[float, ...]
    prompt_style: str
    max_new_tokens: int
    temperature: float
    seed: int
    chunk_size: int


def meta_path(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


def read_finished(out: Path) -> list[dict[str, Any]]:
    """Rows already in ``out``; a torn last line (a kill mid-write) is cut off the file, never parsed."""
    if not out.exists():
        return []
    data = out.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("%s: dropping an unfinished last line (the previous run was interrupted)", out)
        with out.open("r+b") as fh:
            fh.truncate(end)
    rows = []
    for lineno, line in enumerate(data[:end].decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(
                    f"{out}:{lineno}: not a row this job wrote (invalid JSON); give another --out or delete it."
                ) from None
    return rows


def _check_meta(out: Path, job: DifficultyJob, resuming: bool) -> None:
    meta = meta_path(out)
    current = asdict(job)
    current["edges"] = list(job.edges)
    if resuming:
        if not meta.exists():
            raise UserError(
                f"{out} exists but was not written by `data difficulty` (no {meta.name}); use another --out."
            )
        stored = json.loads(meta.read_text())
        changed = [k for k in current if stored.get(k) != current[k]]
        if changed:
            detail = ", ".join(f"{k}: {stored.get(k)!r} -> {current[k]!r}" for k in changed)
            raise UserError(
                f"{out} was started with other settings ({detail}); rerun with the same settings to resume, "
                "or give another --out."
            )
    else:
        meta.write_text(json.dumps(current, indent=1) + "\n")


def estimate_difficulty_file(
    data: str | Path,
    out: str | Path,
    *,
    model: str = "embedded:tiny-math",
    samples: int = 8,
    edges: Sequence[float] = DEFAULT_EDGES,
    prompt_style: PromptStyle | None = None,
    max_new_tokens: int | None = None,
    temperature: float = 1.0,
    batch_size: int = 64,
    seed: int = 0,
    chunk_size: int = 64,
    limit: int | None = None,
    fields: dict[str, str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """``cuma-lite data difficulty``: annotate every row of ``data`` into ``out`` (JSON Lines), resumably.

    Rows are done ``chunk_size`` at a time; each finished chunk is appended and fsynced, so a killed job loses at
    most the chunk in flight, and a rerun with the same arguments skips the ids already in ``out``. Chunk ``c`` is
    sampled with seed ``seed + c`` whether or not the job was resumed. Returns a summary: rows done, skipped,
    time per 100 questions, and the agreement with a given difficulty when the input had one."""
    from cuma_lite.data.loaders import load_rows
    from cuma_lite.models.source import resolve_source

    edges = check_edges(edges)
    if samples < 2:
        raise ConfigError(
            f"--samples {samples}: a majority share needs at least 2 samples per question (try 8)."
        )
    if chunk_size < 1:
        raise ConfigError(f"chunk_size={chunk_size} must be >= 1.")
    rows = load_rows(data, **(fields or {}))  # bad data fails before the model loads
    rows = rows[:limit] if limit else rows
    out = Path(out)
    finished = read_finished(out)
    done = {str(r.get("id")) for r in finished}
    source = resolve_source(model)
    default_style, default_max_new = source.generation_defaults()
    style, max_new = prompt_style or default_style, int(max_new_tokens or default_max_new)
    job = DifficultyJob(str(data), model, samples, edges, style, max_new, temperature, seed, chunk_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_meta(out, job, resuming=out.exists() and out.stat().st_size > 0)
    todo = [
        (c, [r for r in rows[c * chunk_size : (c + 1) * chunk_size] if str(r["id"]) not in done])
        for c in range((len(rows) + chunk_size - 1) // chunk_size)
    ]
    todo = [(c, chunk) for c, chunk in todo if chunk]
    n_todo = sum(len(chunk) for _, chunk in todo)
    started = time.perf_counter()
    if n_todo:
        from cuma_lite.backends.hf import load_inference_model
        from cuma_lite.rollout.contract import SamplingSpec
        from cuma_lite.rollout.hf import HFGenerator

        generator = HFGenerator(*load_inference_model(source), batch_size=batch_size)
        with _progress_bar() if progress else _NoBar() as bar:
            task = bar.add_task("difficulty", total=len(rows), completed=len(rows) - n_todo)
            with out.open("a", encoding="utf-8") as fh:
                for c, chunk in todo:
                    spec = SamplingSpec(
                        n=samples, max_new_tokens=max_new, temperature=temperature, seed=seed + c
                    )
                    annotated = estimate_difficulty(
                        chunk, generator, spec, edges=edges, prompt_style=style, progress=False,
                        on_batch=lambda n: bar.advance(task, n),
                    )  # fmt: skip
                    fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in annotated))
                    fh.flush()
                    os.fsync(fh.fileno())
    elapsed = time.perf_counter() - started
    wanted = {str(r["id"]) for r in rows}
    results = [r for r in read_finished(out) if str(r.get("id")) in wanted]
    return {
        "out": str(out),
        "rows": len(results),
        "computed": n_todo,
        "skipped": len(rows) - n_todo,
        "seconds": round(elapsed, 2),
        "seconds_per_100": round(100 * elapsed / n_todo, 2) if n_todo else None,
        "per_level": _count_levels(results),
        "agreement": agreement(results),
    }


def _count_levels(rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in rows:
        counts[r["difficulty"]] = counts.get(r["difficulty"], 0) + 1
    return dict(sorted(counts.items()))


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, *args: Any) -> None:
        return None
