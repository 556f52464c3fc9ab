"""load_rows: every format gives the same canonical rows; every bad input is one message with its line/row."""

from __future__ import annotations

import csv
import json

import pytest

from cuma_lite.data.io import DataError
from cuma_lite.data.loaders import load_rows, parse_difficulty
from cuma_lite.data.stats import answer_format, describe

ROWS = [
    {"question": "What is 2+2?", "solution_value": 4, "lvl": "Level 1", "subject": "arith"},
    {"question": "What is 3*7?", "solution_value": "21", "lvl": "Level 3", "subject": "arith"},
    {"question": "Halve 5.", "solution_value": 2.5, "lvl": "2.5", "subject": "frac"},
]
MAPPING = dict(problem_field="question", answer_field="solution_value", difficulty_field="lvl")
EXPECTED = [
    {"id": "row-1", "problem": "What is 2+2?", "answer": "4", "difficulty": 1, "subject": "arith"},
    {"id": "row-2", "problem": "What is 3*7?", "answer": "21", "difficulty": 3, "subject": "arith"},
    {"id": "row-3", "problem": "Halve 5.", "answer": "2.5", "difficulty": 2.5, "subject": "frac"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path, rows):
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path, rows):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    # one type per column, as a real Parquet file has
    pq.write_table(
        pa.Table.from_pylist([{**r, "solution_value": str(r["solution_value"])} for r in rows]), path
    )
    return path


def write_datasets_dir(path, rows):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(
        [{**r, "solution_value": str(r["solution_value"])} for r in rows]
    ).save_to_disk(str(path))
    return path


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("f.jsonl", write_jsonl),
        ("f.csv", write_csv),
        ("f.parquet", write_parquet),
        ("ds", write_datasets_dir),
    ],
)
def test_every_format_gives_the_same_rows(tmp_path, name, writer):
    path = writer(tmp_path / name, ROWS)
    assert load_rows(path, **MAPPING) == EXPECTED


def test_math_levels_and_ids_kept(tmp_path):
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "test/a/1.json", "problem": "p", "answer": "1", "level": 4},
            {"id": 7, "problem": "q", "level": "Level 2"},
        ],
    )
    rows = load_rows(path)
    assert [(r["id"], r["difficulty"]) for r in rows] == [("test/a/1.json", 4), ("7", 2)]
    assert "level" not in rows[0]  # moved to difficulty, not duplicated


def test_generated_ids_ignore_blank_lines(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"problem": "a"}\n\n{"problem": "b"}\n')
    assert [r["id"] for r in load_rows(path)] == ["row-1", "row-2"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (3.0, 3), (2.5, 2.5), ("Level 3", 3), ("level 5", 5), (" 4 ", 4), ("", None), (None, None)],
)
def test_parse_difficulty(value, expected):
    assert parse_difficulty(value) == expected


@pytest.mark.parametrize("value", ["Level ?", "hard", True, [1]])
def test_parse_difficulty_refuses(value):
    with pytest.raises(ValueError):
        parse_difficulty(value)


def test_jsonl_bad_lines_are_all_reported_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"problem": "1+1", "id": "a", "difficulty": 1}\n'
        "{not json\n"
        '{"answer": "3"}\n'
        '{"problem": "2+2", "id": "a"}\n'
        '{"problem": "3+3", "difficulty": "Level ?"}\n'
        '{"problem": "4+4", "difficulty": 9}\n'
    )
    with pytest.raises(DataError) as info:
        load_rows(path, levels=range(1, 6))
    text = str(info.value)
    assert f"{path}:2: not valid JSON" in text
    assert f"{path}:3: missing field 'problem'" in text
    assert f"{path}:4: duplicate id 'a' (first seen on line 1)" in text
    assert f"{path}:5: field 'difficulty' must be a number" in text
    assert f"{path}:6: difficulty 9 is not one of the configured levels (1, 2, 3, 4, 5)" in text
    assert f"{path}:1:" not in text


def test_csv_line_numbers_count_the_header_and_multiline_cells(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('problem,answer\n"two\nlines",1\n,2\nok,3\n')
    with pytest.raises(DataError) as info:
        load_rows(path)
    assert (
        str(info.value)
        == f"{path}:4: missing field 'problem' (fields present: problem, answer); map it with --problem-field"
    )


def test_wrong_field_name_says_how_to_map_it(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "x?"}])
    with pytest.raises(DataError, match="--problem-field"):
        load_rows(path)


def test_parquet_rows_are_numbered(tmp_path):
    path = write_parquet(tmp_path / "p.parquet", [*ROWS, {**ROWS[0], "question": None}])
    with pytest.raises(DataError, match="row 4: missing field 'question'"):
        load_rows(path, **MAPPING)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("e.jsonl", b"", "is empty"),
        ("e.csv", b"problem,answer\n", "is empty"),
        ("u.jsonl", b'{"problem": "a"}\n{"problem": "caf\xe9"}\n', ":2: not valid UTF-8"),
        ("u.csv", b"problem\ncaf\xe9\n", ":2: not valid UTF-8"),
        ("x.parquet", b"not parquet", "not a readable Parquet file"),
        ("x.txt", b"hello", "unknown file type"),
    ],
)
def test_bad_files(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_rows(path)
    assert fragment in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_rows(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("answer", "kind"),
    [("42", "integer"), ("-3", "integer"), ("0.5", "decimal"), ("3/4", "fraction"), ("\\frac{1}{2}", "latex"),
     ("$\\sqrt 2$", "latex"), ("(1,2)", "text"), (None, "missing")],
)  # fmt: skip
def test_answer_formats(answer, kind):
    assert answer_format(answer) == kind


def test_stats_on_a_file(tmp_path):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"problem": "Compute 12+7.", "answer": "19", "difficulty": 1},
            {"problem": "compute 12 + 7", "answer": "19", "difficulty": 1},  # exact duplicate once normalised
            {"problem": "Find x.", "difficulty": 2},
            {"problem": "Find y.", "answer": "\\frac12"},
        ],
    )
    report = describe(path)
    assert report["rows"] == 4
    assert report["per_level"] == {1: 2, 2: 1, None: 1}
    assert report["answer_formats"] == {"integer": 2, "missing": 1, "latex": 1}
    assert report["duplicates"] == {"exact": 1, "near": 0}
    assert report["missing"] == {"answer": 1, "difficulty": 1}
