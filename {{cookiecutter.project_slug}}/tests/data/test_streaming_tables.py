"""Tables through LitData shards: prepare of a CSV table stores the in-memory split's statistics and
class names, and of a regression table its target's kind and statistics; training streams from them;
a missing table is one line and leaves nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import train

pytest.importorskip("litdata", reason="LitData is the optional [streaming] extra: pip install -e '.[streaming]'")

from test_tables import table_dm, write_table  # noqa: E402

from {{cookiecutter.project_slug}}.commands import prepare  # noqa: E402


def run_prepare(*args: str) -> int:
    try:
        return prepare.main(["--workers", "1", "--image-size", "8", *args])
    except SystemExit as e:
        return e.code


def test_a_table_streams_with_its_stored_statistics_and_class_names(tmp_path, capsys):
    table = write_table(tmp_path / "t.csv", n=200)
    assert (
        run_prepare(
            "--dataset",
            "csv",
            "--data-dir",
            str(table),
            "--tasks",
            "species,size",
            "--features",
            "a,b,c",
            "--output",
            str(tmp_path / "shards"),
            "--val-fraction",
            "0.2",
        )
        == 0
    )
    meta = json.loads((tmp_path / "shards" / "dataset.json").read_text())
    dm = table_dm(table, ["species", "size"], ["a", "b", "c"])  # the in-memory table, same split
    assert meta["class_names"] == dm.class_names and meta["input_shape"] == [3, 1, 1]
    np.testing.assert_allclose(meta["mean"], dm.mean, rtol=1e-6)
    np.testing.assert_allclose(meta["std"], dm.std, rtol=1e-5)
    status, run = train(
        tmp_path,
        "--dataset",
        "streaming",
        "--data-dir",
        str(tmp_path / "shards"),
        "--tasks",
        "size,species",
        "--fast-dev-run",
        "--width",
        "16",
    )
    assert status == 0 and "test/species/acc" in json.loads((run / "results.json").read_text())
    assert "input: a table's 3 feature columns, standardized" in capsys.readouterr().out  # streamed, still a table


@pytest.mark.slow
def test_shards_of_a_regression_table(tmp_path):
    shards = tmp_path / "shards"
    assert prepare.main(["--dataset", "diabetes", "--output", str(shards)]) == 0
    stored = json.loads((shards / "dataset.json").read_text())
    assert stored["tasks"][0]["kind"] == "regression" and stored["target_mean"][0] > 100
    status, streamed = train(tmp_path, "--dataset", "streaming", "--data-dir", str(shards), "--run-name", "s")
    assert status == 0
    assert json.loads((streamed / "results.json").read_text())["monitor"] == "val/rmse"


def test_prepare_of_a_missing_table_is_one_line_and_leaves_nothing(tmp_path, capsys):
    assert (
        run_prepare(
            "--dataset",
            "csv",
            "--data-dir",
            str(tmp_path / "no.csv"),
            "--target",
            "y",
            "--output",
            str(tmp_path / "new"),
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err and not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
