"""The CLI in-process (Typer's CliRunner): output, exit codes, messages, and that bad input writes nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cuma_lite.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "presets", "data"):
        assert command in result.output


def test_presets_list_and_show():
    result = invoke("presets", "list")
    assert result.exit_code == 0 and "tiny-cpu" in result.output and "3b-24gb" in result.output
    result = invoke("presets", "show", "tiny-cpu")
    assert result.exit_code == 0 and "embedded:tiny-math" in result.output
    result = invoke("presets", "show", "tiny-cpu", "--resolved")
    assert result.exit_code == 0 and "label: greedy" in result.output
    assert "# no-majority mask" in result.output  # every key comes with its help


def test_data_synth_writes_graded_rows(tmp_path):
    out = tmp_path / "sub" / "arith.jsonl"
    result = invoke(
        "data", "synth", "--task", "arithmetic", "--levels", "1-3", "--per-level", "4", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12
    assert sorted({r["difficulty"] for r in rows}) == [1, 2, 3]
    assert "rows per difficulty" in result.output


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("data", "synth", "--task", "poetry", "--out", "{out}"), 2, "unknown task 'poetry'"),
        (("data", "synth", "--levels", "a-b", "--out", "{out}"), 2, "not a level list"),
        (("presets", "show", "huge"), 2, "unknown preset 'huge'"),
        (("train", "--preset", "huge", "--output", "{out}"), 2, "unknown preset"),
        (("train", "--set", "train.max_steps=x", "--output", "{out}"), 2, "expected an integer"),
        (("train", "--set", "train.bogus=1", "--output", "{out}"), 2, "valid keys"),
        (("train", "--data", "{missing}", "--output", "{out}"), 1, "file not found"),
        (("train", "--resume", "--overwrite", "--output", "{out}"), 2, "exclude each other"),
        (("train", "--set", "data.synth_task=foo", "--output", "{out}"), 2, "is not a problem family"),
        (
            ("train", "--set", "data.synth_levels=1-9", "--output", "{out}"),
            2,
            "[6, 7, 8, 9] are outside them",
        ),
        (
            (
                "train",
                "--set",
                "data.synth_task=rg:gcd",
                "--set",
                "data.synth_levels=0-2",
                "--output",
                "{out}",
            ),
            2,
            "rg:gcd has levels 1-5",
        ),
        (
            ("train", "--set", "train.report_to=mlflow", "--output", "{out}"),
            2,
            "choose from none, tensorboard",
        ),
        (("repro", "--set", "data.synth_task=foo", "--out", "{out}"), 2, "is not a problem family"),
    ],
)
def test_bad_input_is_one_clear_message_and_writes_nothing(tmp_path, args, code, fragment):
    out = tmp_path / "out"
    args = [a.format(out=out, missing=tmp_path / "missing.jsonl") for a in args]
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert fragment in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists()


def test_validate_reports_every_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"problem": "1+1", "id": "a"}\n'
        "{not json\n"
        '{"answer": "3"}\n'
        '{"problem": "2+2", "id": "a"}\n'
        '{"problem": "3+3", "difficulty": "hard"}\n'
    )
    result = invoke("data", "validate", str(path))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert ":2: not valid JSON" in text
    assert ":3: missing field 'problem'" in text
    assert ":4: duplicate id 'a' (first seen on line 1)" in text
    assert ":5: field 'difficulty' must be a number" in text
    assert ":1:" not in text


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty"), (b"\n\n", "is empty"), (b'{"problem": "caf\xe9"}\n', "not valid UTF-8")],
)
def test_validate_empty_or_undecodable(tmp_path, content, fragment):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    result = invoke("data", "validate", str(path))
    assert result.exit_code == 1 and fragment in result.output


def test_validate_accepts_the_benchmarks_format(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"id": 1, "problem": "What is 2+2?", "answer": 4, "difficulty": 1}\n')
    result = invoke("data", "validate", str(path))
    assert result.exit_code == 0 and "1 valid rows" in result.output


def test_synth_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    """A failure while writing leaves neither the target nor a temporary file behind."""
    from cuma_lite.data import io

    out = tmp_path / "x.jsonl"

    def boom(rows):
        yield {"ok": 1}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.write_jsonl(out, boom([]))
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_a_directory_holding_another_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("model: {}\n")
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    result = invoke("train", "--output", str(out))
    assert result.exit_code == 1
    assert "already holds another run" in " ".join(result.output.split())
    assert (out / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert (out / "config.yaml").read_text() == "model: {}\n"
