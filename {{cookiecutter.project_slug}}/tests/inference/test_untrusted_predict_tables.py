"""Tables a hostile or careless user gives predict.py (one reader for training and prediction): a BOM,
`;` or tab delimiters, non-finite cells, a field over the csv module's limit. Each refusal: exit 2,
one line, no traceback, nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import refused, train

from {{cookiecutter.project_slug}}.commands.predict import main as predict


def table(path: Path, rows: int = 60, delimiter: str = ",", bom: bool = False, cells=None) -> Path:
    lines = [delimiter.join(("p0", "p1", "y"))]
    for i in range(rows):
        a, b = (cells or {}).get(i, (str(i % 7), str((i * 3) % 5)))
        lines.append(delimiter.join((a, b, "yes" if i % 2 else "no")))
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def table_ckpt(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("table")
    data = table(tmp / "train.csv")
    code, run_dir = train(tmp, "--dataset", "csv", "--data-dir", str(data), "--target", "y", "--max-steps", "3")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


def predictions(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("variant", [{"bom": True}, {"delimiter": ";"}, {"delimiter": "\t", "bom": True}])
def test_predict_reads_every_table_training_reads(table_ckpt, tmp_path, variant):
    plain, odd = table(tmp_path / "plain.csv", 10), table(tmp_path / "odd.csv", 10, **variant)
    assert predict([str(table_ckpt), str(plain), "--output", str(tmp_path / "a.csv")]) == 0
    assert predict([str(table_ckpt), str(odd), "--output", str(tmp_path / "b.csv")]) == 0
    assert predictions(tmp_path / "a.csv") == predictions(tmp_path / "b.csv")
    assert len(predictions(tmp_path / "b.csv")) == 10


BAD_ROWS = {
    "nan": ({3: ("nan", "1")}, "line 5, column 'p0'"),
    "inf": ({0: ("1", "inf")}, "line 2, column 'p1'"),
    "-Infinity": ({1: ("-Infinity", "1")}, "line 3, column 'p0'"),
    "text": ({2: ("abc", "1")}, "line 4"),
    "empty": ({2: ("1", "")}, "line 4, column 'p1'"),
    "a field over the csv limit": ({2: ("1" * 200_000, "1")}, "field larger"),
    "1e39: finite in float64, inf in float32": ({4: ("1e39", "1")}, "line 6, column 'p0'"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_a_row_that_is_not_finite_numbers_is_never_a_silent_nan(table_ckpt, tmp_path, capsys, case):
    cells, words = BAD_ROWS[case]
    data = table(tmp_path / "in.csv", 10, cells=cells)
    capsys.readouterr()
    refused(capsys, predict([str(table_ckpt), str(data), "--output", str(tmp_path / "p.csv")]), words)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_checkpoint_whose_target_statistics_are_not_finite_is_refused(table_ckpt, tmp_path, capsys, value):
    """A regression output is z·σ + μ: a NaN σ would make every prediction NaN (was: 30 NaN rows, exit 0)."""
    import torch

    ckpt = torch.load(table_ckpt, weights_only=True)
    ckpt["hyper_parameters"]["target_std"] = [value]
    torch.save(ckpt, bad := tmp_path / "bad.ckpt")
    data = table(tmp_path / "in.csv", 10)
    capsys.readouterr()
    refused(capsys, predict([str(bad), str(data), "--output", str(tmp_path / "p.csv")]), "target_std", "not finite")
    assert not (tmp_path / "p.csv").exists()
