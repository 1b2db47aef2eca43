"""A model trained on a table, used: predict.py on the rows of a CSV (any column order, extra columns
ignored, a missing feature column named), predictions of a regression target in the target's own
units, export.py on a regression checkpoint, and the README's notebook example for tables."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import N_IMAGES, ROOT, train

from {{cookiecutter.project_slug}}.commands.export import main as export
from {{cookiecutter.project_slug}}.commands.predict import main as predict
from {{cookiecutter.project_slug}}.errors import InputError
from {{cookiecutter.project_slug}}.inference.inputs import read_rows as read_table
from {{cookiecutter.project_slug}}.training.module import load_module

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_regression_data import write_linear  # noqa: E402
from test_tables import write_table  # noqa: E402


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- classification tables


def test_a_table_model_predicts_rows_and_names_a_missing_column(trained, test_images, tmp_path, capsys):
    """The CSV path, on the digits network read as a table of 64 pixel features (hyper_parameters
    `dataset: csv` and `features`, as a model trained on a table saves them)."""
    ckpt = torch.load(trained / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    features = [f"p{i}" for i in range(64)]
    ckpt["hyper_parameters"].update(dataset="csv", features=features)
    table_ckpt = tmp_path / "table.ckpt"
    torch.save(ckpt, table_ckpt)
    _, x = test_images
    table = tmp_path / "rows.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", *reversed(features)])  # any column order, extra columns ignored
        w.writerows([[i, *reversed(image.flatten().tolist())] for i, image in enumerate(x)])
    out = tmp_path / "p.csv"
    assert predict([str(table_ckpt), str(table), "--output", str(out)]) == 0
    rows = read_csv(out)
    model = load_module(trained / "checkpoints" / "best.ckpt")
    expected = model.predict_step(x)[0].argmax(1)
    assert [r["row"] for r in rows] == [str(i) for i in range(1, N_IMAGES + 1)]
    assert [r["digit"] for r in rows] == [str(i) for i in expected.tolist()]
    (tmp_path / "short.csv").write_text("p0,p1\n0,1\n")
    assert predict([str(table_ckpt), str(tmp_path / "short.csv"), "--output", str(tmp_path / "q.csv")]) == 2
    assert "missing the feature column 'p2'" in capsys.readouterr().err
    (tmp_path / "nan.csv").write_text(",".join(features) + "\n" + ",".join(["x"] * 64) + "\n")
    with pytest.raises(InputError, match="line 2, column 'p0': not a finite number"):
        read_table(tmp_path / "nan.csv", features, [1, 8, 8])


def test_a_table_model_predicts_the_rows_of_a_csv(tmp_path):
    path = write_table(tmp_path / "t.csv", n=200)
    flags = ["--dataset", "csv", "--data-dir", str(path), "--target", "species", "--tasks", "species,size"]
    status, run = train(tmp_path, *flags, "--max-epochs", "2", "--width", "16", "--run-name", "t")
    assert status == 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))[:7]
    new = tmp_path / "new.csv"
    with open(new, "w", newline="") as f:  # other column order, no targets: what a user predicts on
        w = csv.DictWriter(f, fieldnames=["c", "b", "a", "id"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "p.csv"
    assert predict([str(run), str(new), "--output", str(out)]) == 0
    with open(out, newline="") as f:
        predicted = list(csv.DictReader(f))
    assert len(predicted) == 7
    assert {r["species"] for r in predicted} <= {"setosa", "virginica"}
    assert {r["size"] for r in predicted} <= {"2", "10"}


# ----------------------------------------------------------------------------- regression tables


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    """A noise-free linear target, learned well enough to check predictions in the target's units."""
    tmp = tmp_path_factory.mktemp("linear")
    path = write_linear(tmp / "t.csv", n=400)
    flags = ["--dataset", "csv", "--data-dir", str(path), "--target", "price", "--features", "a,b,c"]
    # Nearly linear units (leaky slope 0.9) so that one hidden layer fits a line closely in 20 short epochs.
    shape = ["--depth", "1", "--width", "32", "--activation", "leaky-relu", "--leaky-slope", "0.9"]
    status, run = train(tmp, *flags, *shape, "--max-epochs", "20", "--lr", "0.01", "--run-name", "lin")
    assert status == 0
    return tmp, path, run


@pytest.mark.slow
def test_predictions_come_back_in_the_targets_units(linear_run):
    tmp, path, run = linear_run
    out = tmp / "p.csv"
    assert predict([str(run), str(path), "--output", str(out), "--overwrite"]) == 0
    with open(out, newline="") as f:
        predicted = np.array([float(r["price"]) for r in csv.DictReader(f)])
    with open(path, newline="") as f:
        truth = np.array([float(r["price"]) for r in csv.DictReader(f)])
    # The target's std is about 50 around a mean of 500: the predictions are within a tenth of one std,
    # in price units (a model that predicted standardized values would be off by about 500).
    assert np.abs(predicted - truth).mean() < 0.1 * truth.std(), np.abs(predicted - truth).mean()
    assert abs(predicted.mean() - truth.mean()) < 0.05 * truth.std()


@pytest.mark.slow
def test_export_of_a_regression_table(tmp_path):
    status, run = train(tmp_path, "--dataset", "diabetes", "--max-epochs", "2", "--run-name", "d")
    assert status == 0
    for fmt, name in (("torch-export", "best.pt2.json"), ("torchscript", "best.torchscript.pt.json")):
        assert export([str(run), "--format", fmt, "--overwrite"]) == 0  # its parity check passed
        assert json.loads((run / "checkpoints" / name).read_text())["tasks"][0]["kind"] == "regression"


@pytest.mark.slow
def test_readme_table_notebook_example_runs(linear_run, capsys):
    tmp, path, run = linear_run
    readme = (ROOT / "README.md").read_text()
    pattern = r"<!-- notebook-table-example -->\n```python\n(.*?)```\n<!-- /notebook-table-example -->"
    code = re.search(pattern, readme, re.S).group(1)
    code = code.replace("runs/<diabetes run>/checkpoints/best.ckpt", str(run / "checkpoints" / "best.ckpt"))
    exec(compile(code.replace('"rows.csv"', repr(str(path))), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    with open(path, newline="") as f:
        first = [float(r["price"]) for r in csv.DictReader(f)][:2]
    rows = eval(printed.strip())  # noqa: S307 - the example prints a list of dicts
    assert [r["row"] for r in rows] == [1, 2]
    assert all(abs(r["price"] - y) < 10 for r, y in zip(rows, first)), (rows, first)
