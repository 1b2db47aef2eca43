"""CSV tables: classes from any target type, standardization with the training split, multitask
columns, image-only flags as warnings, and one-line errors for bad tables."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from conftest import data_options, run_cli, train

from {{cookiecutter.project_slug}}.data.tables import TableDataModule
from {{cookiecutter.project_slug}}.datasets import DATASETS


def write_table(path, n=300, seed=0):
    """A learnable table: species from the sign of a + b, size (numbers) from c; a text column and an id."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(2.0, 3.0, n), rng.normal(-1.0, 0.5, n), rng.uniform(0, 100, n)
    species = np.where(a + 6 * (b + 1) > 2, "setosa", "virginica")
    size = np.where(c > 50, 10, 2)  # numbers: classes "2" < "10" (numeric order)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "a", "b", "c", "species", "size", "note"])
        for i in range(n):
            w.writerow([i, f"{a[i]:.6f}", f"{b[i]:.6f}", f"{c[i]:.6f}", species[i], size[i], f"row {i}"])
    return path


def table_dm(path, targets, features=None):
    spec = DATASETS["csv"]
    options = data_options(features=features, data_dir=str(path), tasks=list(targets), val_fraction=0.2)
    dm = TableDataModule(spec, options)
    dm.setup()
    return dm


def test_classes_names_splits_and_standardization_equal_numpy(tmp_path):
    path = write_table(tmp_path / "t.csv")
    dm = table_dm(path, ["species", "size"], ["a", "b", "c"])
    assert dm.class_names == [["setosa", "virginica"], ["2", "10"]]
    assert [t.num_classes for t in dm.tasks] == [2, 2] and [t.name for t in dm.tasks] == ["species", "size"]
    assert dm.input_shape == (3, 1, 1)
    n = len(dm.train_set) + len(dm.val_set) + len(dm.test_set)
    assert n == 300 and len(dm.val_set) == pytest.approx(60, abs=2) and len(dm.test_set) == pytest.approx(60, abs=2)
    rows = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    features = np.stack([rows["a"], rows["b"], rows["c"]], axis=1)
    # The training split's rows, found by their values in the file.
    train = dm.train_set.x.view(len(dm.train_set), 3).double().numpy()
    found = [int(np.flatnonzero(np.abs(features - r).sum(1) < 1e-4)[0]) for r in train]
    assert len(set(found)) == len(train)
    np.testing.assert_allclose(dm.mean, features[found].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(dm.std, features[found].std(axis=0), rtol=1e-5)  # population std, as numpy's
    # The labels follow the file's strings: species index 0 is "setosa".
    species = np.array([rows["species"][i] for i in found])
    assert np.array_equal(dm.train_set.y[:, 0].numpy(), (species == "virginica").astype(int))
    # What the network sees: zero mean and unit variance per column on the training split.
    z = (dm.train_set.x.double() - torch.tensor(dm.mean).view(1, 3, 1, 1)) / torch.tensor(dm.std).view(1, 3, 1, 1)
    assert torch.allclose(z.mean(dim=0).flatten(), torch.zeros(3, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(z.std(dim=0, unbiased=False).flatten(), torch.ones(3, dtype=torch.float64), atol=1e-5)


def test_default_features_are_the_other_numeric_columns(tmp_path):
    dm = table_dm(write_table(tmp_path / "t.csv", n=40), ["species"])
    assert dm.feature_names == ["id", "a", "b", "c", "size"]  # "note" holds text


def test_learns_a_table_with_two_tasks(tmp_path):
    path = write_table(tmp_path / "t.csv", n=600)
    status, run = train(
        tmp_path,
        "--dataset",
        "csv",
        "--data-dir",
        str(path),
        "--target",
        "species",
        "--tasks",
        "species,size",
        "--features",
        "a,b,c",
        "--max-epochs",
        "15",
        "--width",
        "32",
        "--lr",
        "0.01",
    )
    assert status == 0
    results = json.loads((run / "results.json").read_text())
    assert results["test/acc"] > 0.9 and results["test/size/acc"] > 0.9, results


def test_image_only_flags_are_one_warning_each_and_harmless(tmp_path, capsys):
    path = write_table(tmp_path / "t.csv", n=60)
    status, run = train(
        tmp_path,
        "--dataset",
        "csv",
        "--data-dir",
        str(path),
        "--target",
        "size",
        "--model",
        "cnn",
        "--aug-rotate",
        "10",
        "--image-size",
        "64",
        "--fast-dev-run",
        "--width",
        "16",
    )
    assert status == 0
    out, err = capsys.readouterr()
    ours = ("ignored with --dataset csv", "trains --model mlp")
    warnings = [line for line in err.splitlines() if any(text in line for text in ours)]
    assert len(warnings) == 3, warnings
    assert "input: a table's 4 feature columns, standardized" in out  # id, a, b, c: not raw images


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        (None, (), "no such file"),
        ("", (), "is empty"),
        ("1,2,3\n4,5,6\n", (), "no header row"),
        ("a,b,label\n1,2,x\n3,4,y\n", ("--target", "nope"), "'nope' is not a column"),
        ("a,b,label\n1,oops,x\n3,4,y\n", ("--features", "a,b"), "holds text"),
        ("a,label\n" + "1,x\n2,x\n3,y\n4,y\n5,z\n", (), "single example"),
        ("a,label\n1,x\n2,x\n", (), "single value"),
    ],
)
def test_bad_tables_are_one_line_and_write_nothing(tmp_path, content, args, says, capsys):
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    path = tmp_path / "t.csv"
    if content is not None:
        path.write_text(content)
    target = () if "--target" in args else ("--target", "label")
    a = parse_args(
        [
            "--dataset",
            "csv",
            "--data-dir",
            str(path),
            *target,
            *args,
            "--fast-dev-run",
            "--accelerator",
            "cpu",
            "--wandb-mode",
            "disabled",
            "--output-dir",
            str(tmp_path / "runs"),
        ]
    )
    capsys.readouterr()
    assert main(a) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_bad_table_from_the_command_line_has_no_traceback(tmp_path):
    result = run_cli("--dataset", "csv", "--data-dir", str(tmp_path / "missing.csv"), "--target", "y", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"train.py: error: --dataset csv: --data-dir {tmp_path / 'missing.csv'}: no such file (expected a CSV file "
        "with a header row)"
    ]
    assert not (tmp_path / "runs").exists()


def test_table_flags_are_checked_when_parsed(capsys):
    from conftest import assert_bad_input

    assert_bad_input("--dataset csv --data-dir t.csv", "--target", capsys)
    assert_bad_input("--dataset digits --target label", "--target", capsys)
    assert_bad_input("--dataset csv --data-dir t.csv --target y --tasks z,y", "--target", capsys)
    assert_bad_input("--dataset csv --data-dir t.csv --target y --adversarial fgsm", "--adversarial", capsys)


def test_the_resolved_default_features_are_saved_with_the_run(tmp_path):
    path = write_table(tmp_path / "t.csv", n=200)
    flags = ["--dataset", "csv", "--data-dir", str(path), "--target", "species", "--tasks", "species,size"]
    status, run = train(tmp_path, *flags, "--max-epochs", "2", "--width", "16", "--run-name", "t")
    assert status == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["features"] == ["id", "a", "b", "c"], "the default features, resolved, are saved with the run"
