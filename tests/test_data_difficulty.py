"""Label-free difficulty: binning and Spearman by hand; the file job's resume, refusals and a real kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cuma_lite.data.difficulty import (
    DEFAULT_EDGES,
    annotate,
    average_ranks,
    check_edges,
    level_from_share,
    parse_edges,
    read_finished,
    share_band,
    spearman,
)
from cuma_lite.errors import ConfigError

# ---- pure -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "level"),
    [(1.0, 1), (0.8, 1), (0.79, 2), (0.6, 2), (0.5, 3), (0.4, 3), (0.25, 4), (0.2, 4), (0.125, 5), (0.0, 5)],
)
def test_level_from_share_default_edges(share, level):
    assert level_from_share(share, DEFAULT_EDGES) == level


def test_share_band_is_the_inverse_of_level_from_share():
    edges = (0.3, 0.7)
    assert [share_band(level, edges) for level in (1, 2, 3)] == [(0.7, 1.0), (0.3, 0.7), (0.0, 0.3)]
    for k in range(9):
        share = k / 8
        low, high = share_band(level_from_share(share, edges), edges)
        assert low <= share < high or share == high == 1.0
    with pytest.raises(ConfigError, match="outside 1..3"):
        share_band(4, edges)


@pytest.mark.parametrize("spec", ["", "0.5,0.5", "0.6,0.4", "0,0.5", "0.5,1.5", "a,b"])
def test_bad_edges(spec):
    with pytest.raises(ConfigError):
        parse_edges(spec)


def test_edges_parse():
    assert parse_edges("0.25, 0.5,0.75") == (0.25, 0.5, 0.75)
    assert check_edges([1]) == (1,)


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


def test_spearman_hand_computed():
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6*2/(4*15)
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / 22.5**0.5)  # ties: Pearson of ranks
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1], [2]) is None
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_annotate_uses_the_plurality_vote_and_keeps_a_given_difficulty():
    row = {"id": "a", "problem": "p", "difficulty": 4}
    out = annotate(row, ["3", "3.0", "4", None, "3", "5", "3", "4"], DEFAULT_EDGES)
    assert out["majority_share"] == 0.5  # 3, 3.0, 3, 3 are one class of 4 out of 8
    assert out["pseudo_label"] == "3"
    assert out["difficulty"] == 3 and out["given_difficulty"] == 4
    assert row == {"id": "a", "problem": "p", "difficulty": 4}  # not modified
    empty = annotate({"id": "b", "problem": "q"}, [None, None], DEFAULT_EDGES)
    assert (empty["difficulty"], empty["majority_share"], empty["pseudo_label"]) == (5, 0.0, None)
    assert "given_difficulty" not in empty


def test_pure_part_imports_no_torch():
    code = (
        "import sys, cuma_lite.data.difficulty as d; d.spearman([1,2],[2,1]); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_read_finished_cuts_a_torn_last_line(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "prob')
    assert [r["id"] for r in read_finished(out)] == ["a", "b"]
    assert out.read_text() == '{"id": "a"}\n{"id": "b"}\n'


# ---- the file job and the CLI ---------------------------------------------------------------------------------


def invoke(*args: str):
    from cuma_lite.cli import app

    return CliRunner().invoke(app, list(args))


def synth_file(path: Path, per_level: int = 4, levels: str = "1-3") -> Path:
    from cuma_lite.config import parse_levels
    from cuma_lite.data.io import write_jsonl
    from cuma_lite.data.synthetic import generate

    write_jsonl(path, generate("arithmetic", parse_levels(levels), per_level, seed=3))
    return path


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (b'{"problem": "a", "id": 1}\n{"problem": "b", "id": 1}\n', ":2: duplicate id '1'"),
        (b'{"problem": "a"}\n{"question": "b"}\n', ":2: missing field 'problem'"),
        (b'{"problem": "caf\xe9"}\n', ":1: not valid UTF-8"),
    ],
)
def test_difficulty_bad_input_exits_1_and_writes_nothing(tmp_path, content, fragment):
    data = tmp_path / "in.jsonl"
    data.write_bytes(content)
    out = tmp_path / "out.jsonl"
    result = invoke("data", "difficulty", "--data", str(data), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert fragment in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists()


def test_difficulty_bad_edges_exit_2(tmp_path):
    data = synth_file(tmp_path / "in.jsonl")
    result = invoke(
        "data", "difficulty", "--data", str(data), "--out", str(tmp_path / "o"), "--edges", "0.9,0.1"
    )
    assert result.exit_code == 2 and "strictly increasing" in result.output


@pytest.mark.slow
def test_difficulty_file_resumes_and_refuses_other_settings(tmp_path):
    from cuma_lite.data.difficulty import estimate_difficulty_file
    from cuma_lite.errors import UserError

    data = synth_file(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    kw = dict(samples=4, max_new_tokens=48, chunk_size=5, progress=False)
    first = estimate_difficulty_file(data, out, limit=7, **kw)
    assert (first["computed"], first["rows"]) == (7, 7)
    lines = out.read_text().splitlines()
    # a kill in the middle of writing the second chunk: one torn line
    out.write_text("\n".join(lines[:6]) + "\n" + lines[6][:10])
    second = estimate_difficulty_file(data, out, **kw)
    assert (second["computed"], second["skipped"], second["rows"]) == (6, 6, 12)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows][:6] == [json.loads(line)["id"] for line in lines[:6]]
    assert sorted(r["id"] for r in rows) == sorted(
        json.loads(line)["id"] for line in data.read_text().splitlines()
    )
    for r in rows:
        assert set(r) >= {"difficulty", "majority_share", "pseudo_label", "given_difficulty"}
        assert r["difficulty"] == level_from_share(r["majority_share"], DEFAULT_EDGES)
    third = estimate_difficulty_file(data, out, **kw)
    assert third["computed"] == 0 and third["rows"] == 12
    assert second["agreement"]["n"] == 12
    with pytest.raises(UserError, match="samples: 4 -> 6"):
        estimate_difficulty_file(data, out, **{**kw, "samples": 6})


@pytest.mark.slow
def test_difficulty_survives_a_real_kill(tmp_path):
    """SIGKILL a running `data difficulty`, rerun it: every row once, the rows written before the kill unchanged,
    and the same result as a run that was never interrupted (chunks are seeded by their index)."""
    data = synth_file(tmp_path / "in.jsonl", per_level=16, levels="1-5")
    n_rows = 80
    args = ["--data", str(data), "--samples", "4", "--max-new-tokens", "24", "--chunk-size", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a shared 2-core machine: no thread oversubscription
    cmd = [sys.executable, "-m", "cuma_lite", "data", "difficulty", *args]
    out = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(
        [*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed; give it more rows"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = out.read_bytes()
    done_before = before.count(b"\n")
    assert 8 <= done_before < n_rows
    rerun = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0, rerun.stderr
    after = out.read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])
    rows = [json.loads(line) for line in after.decode().splitlines()]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == n_rows
    clean = tmp_path / "clean.jsonl"
    subprocess.run([*cmd, "--out", str(clean)], check=True, capture_output=True, timeout=600, env=env)
    if before.endswith(b"\n"):  # killed between chunks (almost always): bit-for-bit the uninterrupted result
        assert sorted(after.decode().splitlines()) == sorted(clean.read_text().splitlines())
