"""LitData streaming: prepare writes shards and statistics equal to the in-memory path's, training
from them matches the in-memory accuracy, DDP ranks and a mid-epoch resume see each example once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import HANG, ROOT, data_options, train
from PIL import Image

pytest.importorskip("litdata", reason="LitData is the optional [streaming] extra: pip install -e '.[streaming]'")

from {{cookiecutter.project_slug}}.commands import prepare  # noqa: E402
from {{cookiecutter.project_slug}}.data.memory import ImageDataModule  # noqa: E402
from {{cookiecutter.project_slug}}.datasets import DATASETS

CLASSES = ("cat", "dog", "owl")


def learnable_folder(root: Path, per_class: int = 30, size: int = 8) -> Path:
    """Each class a colour (red, green, blue) under noise: learnable in a few epochs."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 120, (size, size, 3))
            pixels[..., c] += 120
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def run_prepare(*args: str) -> int:
    try:
        return prepare.main(["--workers", "1", "--image-size", "8", *args])
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, Path]:
    """90 images: test 18 (20%), validation 18 (--val-fraction 0.25), training 54; packs of 3 examples."""
    base = tmp_path_factory.mktemp("streaming")
    photos = learnable_folder(base / "photos")
    assert (
        run_prepare(
            "--dataset",
            "image-folder",
            "--data-dir",
            str(photos),
            "--output",
            str(base / "shards"),
            "--val-fraction",
            "0.25",
            "--pack",
            "3",
        )
        == 0
    )
    return photos, base / "shards"


def test_prepare_stores_the_in_memory_split_statistics_and_names(prepared):
    photos, shards = prepared
    meta = json.loads((shards / "dataset.json").read_text())
    dm = ImageDataModule(
        DATASETS["image-folder"], data_options(data_dir=str(photos), tasks=["class"], val_fraction=0.25, image_size=8)
    )
    dm.prepare_data()
    dm.setup()
    assert {s: meta["splits"][s]["count"] for s in ("train", "val", "test")} == {"train": 54, "val": 18, "test": 18}
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (54, 18, 18)
    np.testing.assert_allclose(meta["mean"], dm.mean, rtol=1e-6)
    np.testing.assert_allclose(meta["std"], dm.std, rtol=1e-5)
    np.testing.assert_allclose(meta["label_frequencies"], dm.label_frequencies(), rtol=1e-9)
    assert meta["class_names"] == [list(CLASSES)] and meta["input_shape"] == [3, 8, 8]
    assert meta["tasks"] == [{"name": "class", "num_classes": 3}] and meta["source"]["dataset"] == "image-folder"
    assert sorted(p.name for p in shards.iterdir()) == ["dataset.json", "test", "train", "val"]


def test_streaming_accuracy_equals_in_memory(prepared, tmp_path):
    photos, shards = prepared
    common = ["--max-epochs", "8", "--width", "32", "--lr", "0.01", "--batch-size", "15", "--val-fraction", "0.25"]
    status, memory = train(
        tmp_path, "--dataset", "image-folder", "--data-dir", str(photos), "--image-size", "8", *common
    )
    assert status == 0
    status, streamed = train(tmp_path, "--dataset", "streaming", "--data-dir", str(shards), *common)
    assert status == 0
    a, b = (json.loads((run / "results.json").read_text())["test/acc"] for run in (memory, streamed))
    assert a >= 0.9 and abs(a - b) <= 0.12, (a, b)


def test_augmentation_adversarial_and_tools_work_on_streamed_data(prepared, tmp_path):
    _, shards = prepared
    status, run = train(
        tmp_path,
        "--dataset",
        "streaming",
        "--data-dir",
        str(shards),
        "--aug-rotate",
        "15",
        "--aug-translate",
        "0.1",
        "--adversarial",
        "fgsm",
        "--fast-dev-run",
        "--width",
        "16",
    )
    assert status == 0 and "val/adv_acc" in json.loads((run / "results.json").read_text())
    status, run = train(
        tmp_path, "--dataset", "streaming", "--data-dir", str(shards), "--aug-rotate", "15", "--aug-preview"
    )
    assert status == 0 and (run / "plots" / "augment.png").is_file()


def record(shards: Path, ids: Path, *args: str, kill_after: int = 0) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "RECORD_IDS_DIR": str(ids),
        "RECORD_IDS_KILL_AFTER": str(kill_after),
        "WANDB_MODE": "disabled",
    }
    ids.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "record_ids.py"), *args],
        cwd=ids.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )


def seen(ids: Path) -> dict[int, Counter]:
    """Per epoch, how many times each example id was trained on (all ranks together)."""
    per_epoch: dict[int, Counter] = {}
    for f in ids.glob("rank*.txt"):
        for line in f.read_text().split("\n"):
            if line:
                epoch, i = map(int, line.split())
                per_epoch.setdefault(epoch, Counter())[i] += 1
    return per_epoch


@pytest.mark.slow
def test_two_ddp_processes_see_every_training_example_once_per_epoch(prepared, tmp_path):
    _, shards = prepared
    result = record(
        shards,
        tmp_path / "ids",
        "--dataset",
        "streaming",
        "--data-dir",
        str(shards),
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--max-epochs",
        "2",
        "--batch-size",
        "9",
        "--width",
        "16",
        "--output-dir",
        str(tmp_path / "runs"),
        "--run-name",
        "ddp",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ids").iterdir()) == ["rank0.txt", "rank1.txt"]
    for epoch, counts in seen(tmp_path / "ids").items():
        assert sorted(counts) == list(range(54)) and set(counts.values()) == {1}, (epoch, counts)
    for rank in ("rank0.txt", "rank1.txt"):  # both ranks trained on half each
        assert len((tmp_path / "ids" / rank).read_text().splitlines()) == 2 * 27


@pytest.mark.slow
def test_resume_mid_epoch_finishes_the_epoch_with_each_example_once(prepared, tmp_path):
    _, shards = prepared
    flags = [
        "--dataset",
        "streaming",
        "--data-dir",
        str(shards),
        "--accelerator",
        "cpu",
        "--max-epochs",
        "2",
        "--batch-size",
        "6",
        "--width",
        "16",
        "--output-dir",
        str(tmp_path / "runs"),
        "--run-name",
        "r",
    ]
    killed = record(shards, tmp_path / "ids", *flags, kill_after=3)
    assert killed.returncode == 143, killed.stderr[-3000:]
    assert len(seen(tmp_path / "ids")[0]) == 18  # 3 batches of 6 (2 packs of 3), then SIGTERM mid-epoch
    resumed = record(shards, tmp_path / "ids", "--resume", "last", "--output-dir", str(tmp_path / "runs"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    per_epoch = seen(tmp_path / "ids")
    for epoch in (0, 1):
        assert sorted(per_epoch[epoch]) == list(range(54)) and set(per_epoch[epoch].values()) == {1}, epoch


# ----------------------------------------------------------------------------- bad input


def train_error(tmp_path, capsys, *args: str) -> str:
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    a = parse_args(
        [
            "--accelerator",
            "cpu",
            "--wandb-mode",
            "disabled",
            "--output-dir",
            str(tmp_path / "runs"),
            "--fast-dev-run",
            *args,
        ]
    )
    capsys.readouterr()
    assert main(a) == 2
    assert not (tmp_path / "runs").exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_folders_that_are_not_prepare_output_are_one_line(prepared, tmp_path, capsys):
    _, shards = prepared
    (tmp_path / "empty").mkdir()
    assert "no dataset.json" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", str(tmp_path / "empty")
    )
    assert "does not exist" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", str(tmp_path / "nowhere")
    )
    # Shards from another dataset than the statistics: another prepare's dataset.json beside these shards.
    other = tmp_path / "other"
    shutil.copytree(shards, other)
    meta = json.loads((other / "dataset.json").read_text())
    meta["splits"]["train"]["fingerprint"] = "0" * 16
    (other / "dataset.json").write_text(json.dumps(meta))
    assert "not the ones dataset.json describes" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", str(other)
    )
    (other / "dataset.json").write_text((shards / "dataset.json").read_text())
    shutil.rmtree(other / "val")
    assert "val/index.json is missing" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", str(other)
    )
    assert "no task 'nope'" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", str(shards), "--tasks", "nope"
    )


def test_s3_without_credentials_or_network_is_one_line_not_a_hang(tmp_path, capsys, monkeypatch):
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert "no AWS credentials" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", "s3://bucket/shards"
    )
    # Credentials, but nothing answers (a closed local port stands for "no network").
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert "unreachable" in train_error(tmp_path, capsys, "--dataset", "streaming", "--data-dir", "s3://bucket/shards")


def test_prepare_refuses_a_non_empty_output_and_overwrites_when_asked(prepared, tmp_path, capsys):
    photos, _ = prepared
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run_prepare("--dataset", "image-folder", "--data-dir", str(photos), "--output", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    assert run_prepare("--dataset", "digits", "--output", str(out), "--overwrite") == 0
    assert json.loads((out / "dataset.json").read_text())["splits"]["train"]["count"] == 1294


def test_without_litdata_both_entry_points_name_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "litdata", None)  # import litdata now raises ImportError
    assert "pip install -e '.[streaming]'" in train_error(
        tmp_path, capsys, "--dataset", "streaming", "--data-dir", str(tmp_path)
    )
    assert run_prepare("--dataset", "digits", "--output", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e '.[streaming]'" in err[0] and not (tmp_path / "out").exists()
