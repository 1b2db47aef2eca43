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


# --- Ordered columns: --input-shape, --test-data, --split-seed, the sequence augmentation


def write_signals(path, n=200, seed=0, steps=40, classes=4):
    """Ordered 1-D signals, columns t0…t{steps-1} and a label: a 12-step burst of the class's frequency (sine, or
    square from class 5 on) at a random place (the whole signal when shorter), on noise around 5 (not in [0, 1])."""
    rng, width = np.random.default_rng(seed), min(12, steps)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"t{i}" for i in range(steps)] + ["label"])
        for _ in range(n):
            c, start = int(rng.integers(classes)), int(rng.integers(steps - width + 1))
            burst = np.sin(2 * np.pi * (c % 5 + 1) * np.arange(width) / width + rng.uniform(0, 2 * np.pi))
            x = 5.0 + 0.5 * rng.standard_normal(steps)
            x[start : start + width] += 2.0 * (np.sign(burst) if c >= 5 else burst)
            w.writerow([f"{v:.5f}" for v in x] + [f"c{c}"])
    return path


def sequence_dm(path, shape, **values):
    options = data_options(data_dir=str(path), tasks=["label"], feature_shape=list(shape), **values)
    dm = TableDataModule(DATASETS["csv"], options)
    dm.setup()
    return dm


def test_feature_shape_orders_the_columns_channel_major_and_standardizes_per_channel(tmp_path):
    path = write_signals(tmp_path / "s.csv", n=80, steps=10)
    dm = sequence_dm(path, (2, 5))
    assert dm.input_shape == (2, 5)
    rows = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=range(10))
    x = dm.train_set.x.double().numpy()
    found = [int(np.flatnonzero(np.abs(rows - r.reshape(-1)).sum(1) < 1e-3)[0]) for r in x]
    np.testing.assert_allclose(x, rows[found].reshape(-1, 2, 5), atol=1e-5)  # column c·L + t is channel c, step t
    channels = rows[found].reshape(-1, 2, 5)
    np.testing.assert_allclose(dm.mean, channels.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(dm.std, channels.std(axis=(0, 2)), rtol=1e-5)
    assert abs(dm.mean[0] - 5.0) < 0.5  # standardized from the data, not assumed in [0, 1]


def test_a_given_test_file_is_the_test_split_and_split_seed_moves_only_validation(tmp_path):
    train_file, test_file = write_signals(tmp_path / "a.csv", n=100, seed=1), write_signals(tmp_path / "b.csv", n=30)
    dm = sequence_dm(train_file, (1, 40), test_data=str(test_file))
    given = np.genfromtxt(test_file, delimiter=",", skip_header=1, usecols=range(40))
    np.testing.assert_allclose(dm.test_set.x.view(30, 40).numpy(), given, atol=1e-5)  # as it is, in order
    assert len(dm.train_set) + len(dm.val_set) == 100
    other = sequence_dm(train_file, (1, 40), test_data=str(test_file), split_seed=3)
    assert torch.equal(other.test_set.x, dm.test_set.x) and not torch.equal(other.val_set.x, dm.val_set.x)
    assert torch.equal(sequence_dm(train_file, (1, 40), test_data=str(test_file), seed=9).val_set.x, dm.val_set.x)


def test_the_sequence_augmentations_are_their_formulas(tmp_path):
    from {{cookiecutter.project_slug}}.data.tables import SequenceAugment

    torch.manual_seed(0)
    x, mean, std = torch.randn(500, 2, 20) * 3 + 4, [4.0, 1.0], [3.0, 0.5]
    shifted = SequenceAugment(mean, std, shift=0.1)(x)  # k in ±round(0.1·20) = ±2, circular
    ks = []
    for a, b in zip(x, shifted):
        k = [k for k in range(-2, 3) if torch.equal(torch.roll(a, k, dims=1), b)]
        assert len(k) == 1
        ks.append(k[0])
    assert set(ks) == {-2, -1, 0, 1, 2}
    scaled = SequenceAugment(mean, std, scale=0.2)(x)
    mu = torch.tensor(mean).view(1, 2, 1)
    a = ((scaled - mu) * (x - mu)).sum((1, 2), True) / (x - mu).pow(2).sum((1, 2), True)  # one factor per example
    torch.testing.assert_close(scaled, mu + a * (x - mu))
    assert a.min() >= 0.8 and a.max() <= 1.2 and a.max() - a.min() > 0.3
    noise = (SequenceAugment(mean, std, jitter=0.5)(x) - x) / torch.tensor(std).view(1, 2, 1)
    assert abs(noise.std().item() - 0.5) < 0.01 and abs(noise.mean().item()) < 0.01


def test_sequence_augmentation_follows_its_flags_and_needs_a_sequence(tmp_path):
    from {{cookiecutter.project_slug}}.data.tables import SequenceAugment
    from {{cookiecutter.project_slug}}.errors import DataError

    path = write_signals(tmp_path / "s.csv", n=60)
    dm = sequence_dm(path, (1, 40), seq_shift=0.1, seq_jitter=0.1)
    assert isinstance(dm.augment, SequenceAugment) and dm.augment.shift == 0.1 and dm.augment.jitter == 0.1
    assert dm.augment.scale == 0 and sequence_dm(path, (1, 40)).augment is None
    with pytest.raises(DataError, match="--seq-scale is for sequences"):
        sequence_dm(path, (), seq_scale=0.1)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--input-shape", "40"), "expected C,L"),
        (("--input-shape", "2,30"), "holds 60 values"),
        (("--input-shape", "1,40", "--test-data", "nope.csv"), "--test-data: file nope.csv: no such file"),
        (("--input-shape", "40,1", "--model", "rnn"), "gives it 1 step"),
    ],
)
def test_bad_sequence_settings_are_one_line_and_write_nothing(tmp_path, args, says, capsys, monkeypatch):
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    monkeypatch.chdir(tmp_path)
    path = write_signals(tmp_path / "s.csv", n=40)
    flags = ["--dataset", "csv", "--data-dir", str(path), "--target", "label", *args, "--fast-dev-run"]
    a = parse_args([*flags, "--accelerator", "cpu", "--wandb-mode", "disabled", "--output-dir", str(tmp_path / "r")])
    capsys.readouterr()
    assert main(a) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_a_one_step_sequence_for_a_convolution_is_one_warning(capsys):
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    table = ["--dataset", "csv", "--data-dir", "t.csv", "--target", "y", "--model", "cnn"]
    a = parse_args([*table, "--input-shape", "40,1"])
    warnings = [line for line in capsys.readouterr().err.splitlines() if "1 step" in line]
    assert a.model == "cnn" and len(warnings) == 1, warnings
    assert "--input-shape 40,1 gives --model cnn 1 step" in warnings[0]
    parse_args([*table, "--input-shape", "1,40"])
    assert "1 step" not in capsys.readouterr().err


def test_sequence_flags_belong_to_tables(capsys):
    from conftest import assert_bad_input

    for flag in ("--input-shape 1,40", "--test-data t.csv", "--seq-shift 0.1", "--seq-jitter 0.1"):
        assert_bad_input(f"--dataset digits {flag}", flag.split()[0], capsys)
    assert_bad_input("--dataset csv --data-dir t.csv --target y --input-shape 1,x", "--input-shape", capsys)


@pytest.mark.parametrize(
    ("model", "reads"),
    [
        (("cnn", "--kernel-size", "5", "--stride", "2"), "1-D convolution"),
        (("rnn", "--bidirectional", "--rnn-readout", "mean"), "the rnn's steps"),
        (("mlp",), "flat"),
    ],
)
def test_an_ordered_table_trains_with_each_network_and_says_what_it_reads(tmp_path, capsys, model, reads):
    train_file, test_file = write_signals(tmp_path / "a.csv", n=160, seed=1), write_signals(tmp_path / "b.csv", n=40)
    flags = ["--dataset", "csv", "--data-dir", str(train_file), "--test-data", str(test_file), "--target", "label"]
    status, run = train(tmp_path, *flags, "--input-shape", "1,40", "--model", *model, "--width", "8")
    shown = "input: sequences of 1 channel(s) × 40 steps (time: the last axis; " + reads
    assert status == 0 and shown in capsys.readouterr().out
    results = json.loads((run / "results.json").read_text())
    assert "test/acc" in results
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["feature_shape"] == [1, 40] and saved["test_data"] == str(test_file) and saved["split_seed"] == 0
