"""Datasets, tested offline on tiny files written in each dataset's real on-disk format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import data_options, run_cli, train
from formats import labels, make_cifar, make_image_folder, make_mnist, write_idx

from {{cookiecutter.project_slug}}.checkpoints import class_names_of
from {{cookiecutter.project_slug}}.data.cache import load_cached
from {{cookiecutter.project_slug}}.data.memory import ImageDataModule, TensorBatches
from {{cookiecutter.project_slug}}.datasets import DATASETS

N_TRAIN, N_TEST = 60, 20  # formats' defaults


MAKERS = {
    "mnist": make_mnist,
    "fashion-mnist": lambda r: make_mnist(r, "FashionMNIST"),
    "cifar10": make_cifar,
    "image-folder": make_image_folder,
}
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32), "image-folder": (3, 16, 16)}


def datamodule(dataset, root, **kw):
    tasks = [t.name for t in DATASETS[dataset].tasks]
    dm = ImageDataModule(
        DATASETS[dataset], data_options(data_dir=str(root), tasks=tasks, val_fraction=0.25, image_size=16, **kw)
    )
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.mark.parametrize("dataset", MAKERS)
def test_loads_shapes_labels_splits_and_tasks(dataset, tmp_path):
    MAKERS[dataset](tmp_path)
    dm = datamodule(dataset, tmp_path)
    total_train = N_TRAIN if dataset != "image-folder" else 30
    n_test = N_TEST if dataset != "image-folder" else 6  # image-folder: 20% held out
    assert len(dm.test_set) == n_test
    assert len(dm.val_set) == round(0.25 * (total_train - (n_test if dataset == "image-folder" else 0)))
    assert len(dm.train_set) + len(dm.val_set) + (n_test if dataset == "image-folder" else 0) == total_train
    assert dm.input_shape == SHAPES[dataset]
    x, y = dm.train_set.batch([0, 1, 2])
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1 and x.shape == (3, *SHAPES[dataset])
    assert y.shape == (3, len(dm.tasks))
    expected = {"mnist": [10, 2, 2], "fashion-mnist": [10, 2], "cifar10": [10, 2], "image-folder": [3]}[dataset]
    assert [t.num_classes for t in dm.tasks] == expected  # image-folder: one class per folder
    for t, task in enumerate(dm.tasks):
        assert int(dm.train_set.y[:, t].max()) < task.num_classes
        assert sum(dm.label_frequencies()[t]) == pytest.approx(1.0)
    assert len(dm.mean) == len(dm.std) == SHAPES[dataset][0]


def test_task_labels_are_derived_from_the_class(tmp_path):
    make_cifar(tmp_path)
    dm = datamodule("cifar10", tmp_path)
    cls, vehicle = dm.test_set.y[:, 0], dm.test_set.y[:, 1]
    assert torch.equal(vehicle, torch.isin(cls, torch.tensor([0, 1, 8, 9])).long())
    make_mnist(tmp_path)
    digit, parity, zero = datamodule("mnist", tmp_path).test_set.y.unbind(1)
    assert torch.equal(parity, digit % 2) and torch.equal(zero, (digit == 0).long())


def test_decoded_tensors_are_cached_and_refreshed(tmp_path):
    make_mnist(tmp_path)
    first = load_cached(DATASETS["mnist"], tmp_path, False, 32)
    cache = tmp_path / ".tensors" / "mnist-32.pt"
    assert cache.is_file()
    again = load_cached(DATASETS["mnist"], tmp_path, False, 32)
    assert torch.equal(first[0][0], again[0][0])
    # New source files (another size) → decoded again, not served stale.
    rng = np.random.default_rng(1)
    write_idx(tmp_path / "MNIST" / "raw", "train", rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), labels(7))
    assert len(load_cached(DATASETS["mnist"], tmp_path, False, 32)[0][0]) == 7


def test_image_folder_with_train_and_test_folders(tmp_path):
    make_image_folder(tmp_path, split="train")
    make_image_folder(tmp_path, per_class=2, split="test")
    dm = datamodule("image-folder", tmp_path)
    assert len(dm.test_set) == 6 and len(dm.train_set) + len(dm.val_set) == 30


def test_uint8_images_become_floats_in_batches():
    data = TensorBatches(torch.tensor([[[[0, 255]]]], dtype=torch.uint8), torch.zeros(1, 1, dtype=torch.long))
    assert data.batch([0])[0].tolist() == [[[[0.0, 1.0]]]]


@pytest.mark.parametrize("dataset", MAKERS)
@pytest.mark.parametrize("model", ["mlp", "cnn", "rnn", "resnet"])
def test_train_runs_on_each_dataset(dataset, model, tmp_path):
    MAKERS[dataset](tmp_path / "data")
    status, run_dir = train(
        tmp_path,
        "--dataset",
        dataset,
        "--data-dir",
        str(tmp_path / "data"),
        "--fast-dev-run",
        "--model",
        model,
        "--width",
        "8",
        "--image-size",
        "16",
        "--aug-rotate",
        "10",
        "--aug-blur",
        "1",
    )
    assert status == 0
    assert 0 <= json.loads((run_dir / "results.json").read_text())["test/acc"] <= 1


def run_in_process(tmp_path, *args: str) -> int:
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    return main(parse_args(["--output-dir", str(tmp_path / "runs"), "--wandb-mode", "disabled", *args]))


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("mnist", "MNIST/raw/"),
        ("fashion-mnist", "FashionMNIST/raw/"),
        ("cifar10", "cifar-10-batches-py/"),
        ("image-folder", "<class name>/<image files>"),
    ],
)
def test_missing_files_say_where_and_how(dataset, expected, tmp_path, capsys):
    assert run_in_process(tmp_path, "--dataset", dataset, "--data-dir", str(tmp_path / "nowhere")) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "files not found" in lines[0]
    assert ("--download" in lines[0]) == DATASETS[dataset].download  # offered only where the loader can download
    assert not (tmp_path / "runs").exists()


def test_download_for_a_dataset_that_cannot_is_one_warning(tmp_path, capsys):
    assert run_in_process(tmp_path, "--dataset", "digits", "--download", "--fast-dev-run") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "--download" in line]
    assert warnings == ["warning: --download does not apply to --dataset digits (its files: scikit-learn); ignored"]


@pytest.mark.slow
def test_missing_files_exit_2_without_traceback(tmp_path):
    result = run_cli(
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "nowhere"),
        "--output-dir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("dataset", MAKERS)
def test_corrupt_file_gives_one_clear_line(dataset, tmp_path, capsys):
    MAKERS[dataset](tmp_path).write_bytes(b"\x00\x01garbage" * 3)
    assert run_in_process(tmp_path, "--dataset", dataset, "--data-dir", str(tmp_path)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "corrupt" in lines[0], lines


def test_tasks_must_belong_to_the_dataset(capsys):
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    assert parse_args(["--dataset", "cifar10"]).tasks == ["class"]
    assert parse_args(["--dataset", "cifar10", "--tasks", "class,vehicle"]).tasks == ["class", "vehicle"]
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "cifar10", "--tasks", "digit"])
    assert "cifar10 has no task 'digit'" in capsys.readouterr().err


def test_a_last_training_batch_of_one_is_dropped():
    # Batch norm cannot normalize one example; only that case drops the last batch.
    dm = ImageDataModule(DATASETS["digits"], data_options(batch_size=431))  # 1,294 training images = 3 × 431 + 1
    dm.setup()
    assert len(dm.train_set) == 1294
    assert len(dm.train_dataloader()) == 3 and len(dm.val_dataloader()) == 1
    dm.batch_size = 64
    assert len(dm.train_dataloader()) == 21


# ----------------------------------------------------------------------------- every declared dataset


@pytest.mark.parametrize("name", [n for n, d in DATASETS.items() if d.kind == "images"])
def test_every_declared_dataset_trains_with_all_its_tasks(name, tmp_path):
    """Follows datasets.py: a dataset added there is tested here on the tiny copy its `sample` writes."""
    spec = DATASETS[name]
    maker = MAKERS.get(name) or spec.sample
    if spec.files is not None:
        assert maker is not None, f"{name}: give its @dataset(...) declaration sample= (a writer of tiny files)"
        maker(tmp_path)
    tasks = ",".join(t.name for t in spec.tasks)
    status, run = train(
        tmp_path,
        "--dataset",
        name,
        "--data-dir",
        str(tmp_path),
        "--image-size",
        "8",
        "--tasks",
        tasks,
        "--fast-dev-run",
        "--width",
        "16",
    )
    assert status == 0
    metrics = json.loads((run / "results.json").read_text())
    assert 0 <= metrics["test/acc"] <= 1
    assert (len(spec.tasks) == 1) or all(f"test/{t.name}/acc" in metrics for t in spec.tasks)


def test_class_names_per_dataset():
    from torchvision import datasets

    from {{cookiecutter.project_slug}}.datasets import DATASET_CLASSES

    assert list(DATASET_CLASSES["fashion-mnist"]) == datasets.FashionMNIST.classes
    digits = ImageDataModule(DATASETS["digits"], data_options(tasks=["digit", "parity", "zero"]))
    assert digits.class_names == [[str(d) for d in range(10)], ["even", "odd"], ["no", "yes"]]


def test_class_names_fall_back_to_numbers_for_old_checkpoints():
    assert class_names_of({"task_classes": [3, 2]}) == [["0", "1", "2"], ["0", "1"]]
    assert class_names_of({"task_classes": [2], "task_class_names": [["even", "odd"]]}) == [["even", "odd"]]
