"""Regression targets and the embedded tables, before any training: the kind of each task column
(inferred or --task-types), the training split's target statistics against NumPy's, the output-bias
prior of a regression head, the embedded tables' columns and splits, and one-line errors."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
import torch
from conftest import assert_bad_input, data_options, train

from {{cookiecutter.project_slug}}.data.tables import TableDataModule
from {{cookiecutter.project_slug}}.data.targets import infer_kind
from {{cookiecutter.project_slug}}.data.tasks import parse_task_types
from {{cookiecutter.project_slug}}.datasets import DATASETS


def write_linear(path, n=240, seed=0, noise=0.0):
    """price = 30·a − 20·b + 500 (+ noise), category from the sign of c (text), grade 1..3 (whole numbers)."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(0, 1, n), rng.normal(0, 2, n), rng.normal(0, 1, n)
    price = 30 * a - 20 * b + 500 + noise * rng.normal(0, 1, n)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "price", "category", "grade"])
        for i in range(n):
            w.writerow([a[i], b[i], c[i], price[i], "up" if c[i] > 0 else "down", 1 + i % 3])
    return path


def table(path, tasks, task_types=(), dataset="csv", features=None):
    options = data_options(features=list(features or []), task_types=list(task_types), data_dir=str(path))
    dm = TableDataModule(DATASETS[dataset], dataclasses.replace(options, tasks=list(tasks), val_fraction=0.2))
    dm.setup()
    return dm


def file_rows(path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_task_kinds_are_inferred_from_the_column():
    assert infer_kind(["red", "blue", "red"]) == "classification"
    assert infer_kind(["1", "2", "3", "2"]) == "classification"  # whole numbers, few distinct values
    assert infer_kind([str(i) for i in range(100)]) == "regression"  # whole numbers, many distinct values
    assert infer_kind(["0.5", "1.25", "0.5"]) == "regression"
    assert infer_kind(np.array([1.5, 2.5])) == "regression"


def test_task_types_both_spellings_and_unknown_types():
    assert parse_task_types(["regression", "auto"], ["price", "grade"]) == {"price": "regression"}
    assert parse_task_types(["grade:regression"], ["price", "grade"]) == {"grade": "regression"}
    for bad, words in (
        (["price:regression", "classification"], "either"),
        (["regression"], "one type per task"),
        (["cost:regression"], "'cost' is not one of the tasks"),
        (["price:ordinal"], "unknown task type 'ordinal'"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_task_types(bad, ["price", "grade"])


def test_an_unknown_task_type_or_a_declared_kind_mismatch_exits_2_at_parse(capsys):
    assert_bad_input("--dataset csv --data-dir t.csv --target y --task-types y:ordinal", "--task-types", capsys)
    assert_bad_input("--dataset diabetes --task-types classification", "--task-types", capsys)


def test_target_statistics_are_numpys_on_the_training_split_only(tmp_path):
    path = write_linear(tmp_path / "t.csv")
    dm = table(path, ["price", "category", "grade"])
    assert [t.kind for t in dm.tasks] == ["regression", "classification", "classification"]
    assert [t.num_classes for t in dm.tasks] == [1, 2, 3] and dm.class_names[1:] == [["down", "up"], ["1", "2", "3"]]
    columns = file_rows(path)
    features = np.stack([columns[k].astype(float) for k in "abc"], axis=1)
    # The training rows, found in the file by their feature values.
    train = dm.train_set.x.view(len(dm.train_set), 3).double().numpy()
    found = [int(np.argmin(np.abs(features - r).sum(1))) for r in train]
    assert len(set(found)) == len(train) == len(dm.train_set)
    price = columns["price"].astype(float)
    assert dm.target_mean[0] == pytest.approx(price[found].mean(), rel=1e-9)
    assert dm.target_std[0] == pytest.approx(price[found].std(), rel=1e-9)  # population std, as NumPy's
    assert abs(price.mean() - price[found].mean()) > 1e-3, "the whole file's mean would differ"
    assert dm.target_mean[1:] == [0.0, 0.0] and dm.target_std[1:] == [1.0, 1.0]  # classes: nothing to scale
    np.testing.assert_allclose(dm.train_set.y[:, 0].numpy(), price[found], rtol=1e-6)  # stored in original units


def test_the_prior_bias_of_a_regression_head_is_the_training_mean(tmp_path):
    from {{cookiecutter.project_slug}}.commands.options import build_module
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    path = write_linear(tmp_path / "t.csv")
    a = parse_args(["--dataset", "csv", "--data-dir", str(path), "--tasks", "price,category", "--accelerator", "cpu"])
    dm = table(path, ["price", "category"])
    module = build_module(a, dm)
    heads = module.net.heads.outputs
    y = dm.train_set.y.double().numpy()
    bias = heads[0].bias.item() * module.target_std[0].item() + module.target_mean[0].item()  # original units
    assert bias == pytest.approx(y[:, 0].mean(), rel=1e-6)
    assert heads[0].bias.item() == pytest.approx(0.0, abs=1e-6)  # standardized: (mean − μ) / σ = 0
    p_up = (y[:, 1] == 1).mean()  # the classification head beside it keeps its prior, σ(b) = p
    assert torch.sigmoid(heads[1].bias).item() == pytest.approx(p_up, rel=1e-5)
    # What the network predicts with zero weights is the training mean, in the target's units.
    with torch.no_grad():
        for head in heads:
            head.weight.zero_()
        value = module.predict_step(dm.val_set.x[:4].float())[0]
    np.testing.assert_allclose(value.numpy()[:, 0], y[:, 0].mean(), rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "rows", "features", "target", "kind", "classes"),
    [
        ("breast-cancer", 569, 30, "diagnosis", "classification", ["benign", "malignant"]),
        ("wine", 178, 13, "cultivar", "classification", ["class_0", "class_1", "class_2"]),
        ("diabetes", 442, 10, "progression", "regression", []),
    ],
)
def test_the_embedded_tables_have_real_columns_and_a_held_out_test_split(name, rows, features, target, kind, classes):
    spec = DATASETS[name]
    assert spec.kind == "table" and spec.files is None and spec.tasks[0].name == target
    dm = table("unused", [target], dataset=name)
    assert len(dm.train_set) + len(dm.val_set) + len(dm.test_set) == rows
    assert len(dm.test_set) == pytest.approx(0.2 * rows, abs=3) and len(dm.val_set) > 0
    assert dm.input_shape == (features, 1, 1) and len(dm.feature_names) == features
    assert dm.tasks[0].kind == kind and dm.class_names[0] == classes
    if name == "diabetes":
        assert dm.feature_names[:4] == ["age", "sex", "bmi", "bp"]
        assert 20 < dm.target_mean[0] < 350 and 18 <= float(dm.train_set.x[:, 0].min()) < 30  # unscaled: years
    if name == "breast-cancer":
        assert "mean radius" in dm.feature_names


def write_bad(path, values):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "y"])
        for i, v in enumerate(values):
            w.writerow([i % 7, v])
    return path


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ([1.5, 2.5, "nan", 4.5] * 10, "missing or infinite"),
        ([1.5, 2.5, "inf", 4.5] * 10, "missing or infinite"),
        ([3.5] * 40, "is constant"),
        (["x", "y", "z", "w"] * 10, "holds text"),
    ],
)
def test_bad_regression_targets_exit_2_with_one_line(tmp_path, capsys, values, words):
    path = write_bad(tmp_path / "bad.csv", values)
    status, run = train(
        tmp_path, "--dataset", "csv", "--data-dir", str(path), "--target", "y", "--task-types", "regression"
    )
    err = capsys.readouterr().err
    assert status == 2 and run is None and err.count("\n") == 1, err
    assert words in err and "'y'" in err, err


def test_a_checkpoint_saved_before_task_kinds_stays_classification(tmp_path):
    from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module
    from {{cookiecutter.project_slug}}.config.parser import parse_args
    from {{cookiecutter.project_slug}}.training.module import TaskModule
    from {{cookiecutter.project_slug}}.training.monitor import monitor_of

    a = parse_args(["--dataset", "digits", "--tasks", "digit,parity", "--accelerator", "cpu", "--width", "8"])
    hp = dict(build_module(a, build_datamodule(a)).hparams)
    assert hp["task_kinds"] == ["classification", "classification"] and monitor_of(hp).name == "val/acc"
    old = {k: v for k, v in hp.items() if k not in ("task_kinds", "target_mean", "target_std")}
    module = TaskModule(**old)
    assert [k.name for k in module.kinds] == ["classification", "classification"] and monitor_of(old).mode == "max"
    assert list(module.metrics["val_"][1]) == ["acc"]
