"""Tables a hostile or careless user trains on: more classes than the splits can hold is refused
(exit 2, one line, no traceback, nothing written)."""

from __future__ import annotations

import pytest
from conftest import refused, train


def test_more_classes_than_the_splits_can_hold_is_one_line(tmp_path, capsys):
    lines = ["a,b,y"] + [f"{i % 3},{i % 5},c{i // 2}" for i in range(2000)]  # 1,000 classes of 2 rows
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    code, run_dir = train(tmp_path, "--dataset", "csv", "--data-dir", str(tmp_path / "t.csv"), "--target", "y")
    refused(capsys, code, "test split would be empty", "1000 classes")
    assert not list((tmp_path / "runs").glob("*/results.json"))


@pytest.mark.parametrize(
    ("column", "words"),
    [
        ("a", ["feature column 'a'", "1e39"]),
        ("y", ["regression target column 'y'", "infinite value (in float32: 1e+39"]),
    ],
)
def test_a_value_past_float32_is_one_line_naming_its_column(tmp_path, capsys, column, words):
    """1e39 is finite in float64 and inf in float32, the network's inputs and targets: it was exit 1 blaming ε0."""
    rows = [{"a": str(i % 7), "b": str(i % 5), "y": str(0.5 * i)} for i in range(60)]
    rows[7][column] = "1e39"
    lines = ["a,b,y"] + [",".join(r.values()) for r in rows]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    data = ["--dataset", "csv", "--data-dir", str(tmp_path / "t.csv")]
    code, _ = train(tmp_path, *data, "--target", "y", "--task-types", "y:regression")
    refused(capsys, code, *words)
    assert not list((tmp_path / "runs").glob("*/results.json"))
