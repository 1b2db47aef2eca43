"""The diagnostics' Trainer extras: --profiler writes its reports into the run directory, and
--tensorboard receives the same scalars as metrics.csv."""

from __future__ import annotations

import csv
import sys

import pytest
from conftest import assert_bad_input, train


@pytest.mark.cli
def test_bad_profiler_exits_2_in_one_line(capsys):
    assert_bad_input("--profiler cprofile", "--profiler", capsys)


@pytest.mark.cli
def test_tensorboard_without_the_package_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what find_spec sees when it is not installed
    assert_bad_input("--tensorboard", "pip install -e '.[tensorboard]'", capsys)


@pytest.mark.parametrize("kind", ["simple", "advanced", "pytorch"])
def test_profiler_report_lands_in_the_run_directory(tmp_path, kind):
    status, run_dir = train(tmp_path, "--width", "16", "--fast-dev-run", "--profiler", kind)
    assert status == 0
    report = (run_dir / "profiler" / "fit-profile.txt").read_text()
    assert "Profiler Report" in report
    assert {"simple": "run_training_batch", "advanced": "ncalls", "pytorch": "Self CPU"}[kind] in report
    assert "Profiler Report" in (run_dir / "profiler" / "test-profile.txt").read_text()


def test_tensorboard_gets_the_csv_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    status, run_dir = train(
        tmp_path, "--width", "16", "--max-epochs", "2", "--limit-train-batches", "4", "--tensorboard"
    )
    assert status == 0
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"val/acc", "lr", "train/loss"} <= set(tags)
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for tag in ("lr", "val/acc", "train/loss"):  # per step, per epoch, per step
        expected = [(int(r["step"]), float(r[tag])) for r in rows if r.get(tag)]
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in expected], tag
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6), tag
    assert len(events.Scalars("val/acc")) == 2 and len(events.Scalars("lr")) == 8  # per epoch; per step
