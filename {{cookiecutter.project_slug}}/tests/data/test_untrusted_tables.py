"""Tables a hostile or careless user trains on: more classes than the splits can hold is refused
(exit 2, one line, no traceback, nothing written)."""

from __future__ import annotations

from conftest import refused, train


def test_more_classes_than_the_splits_can_hold_is_one_line(tmp_path, capsys):
    lines = ["a,b,y"] + [f"{i % 3},{i % 5},c{i // 2}" for i in range(2000)]  # 1,000 classes of 2 rows
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    code, run_dir = train(tmp_path, "--dataset", "csv", "--data-dir", str(tmp_path / "t.csv"), "--target", "y")
    refused(capsys, code, "test split would be empty", "1000 classes")
    assert not list((tmp_path / "runs").glob("*/results.json"))
