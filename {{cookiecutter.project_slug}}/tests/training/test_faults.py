"""Bad input found at any stage (parsing, data, checkpoint, output folder, machine) is one line and
exit status 2 with nothing written; faults during a run end with a message, not a traceback."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import HANG, ROOT, train
from formats import labels, make_cifar, make_image_folder, make_mnist, write_idx
from test_run_state import refused

from {{cookiecutter.project_slug}}.datasets import DATASETS


def _checkpoint_files(tmp: Path) -> dict[str, Path]:
    files = {
        "empty": tmp / "empty.ckpt",
        "random": tmp / "random.ckpt",
        "not-lightning": tmp / "dict.ckpt",
        "other-project": tmp / "other.ckpt",
        "truncated": tmp / "truncated.ckpt",
    }
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    torch.save({"weights": torch.zeros(3)}, files["not-lightning"])
    torch.save({"state_dict": {}, "global_step": 3, "hyper_parameters": {"lr": 0.1}}, files["other-project"])
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "global_step": 1}, tmp / "whole.ckpt")
    files["truncated"].write_bytes((tmp / "whole.ckpt").read_bytes()[:2000])
    return files


@pytest.mark.parametrize("kind", ["empty", "random", "not-lightning", "other-project", "truncated"])
def test_unusable_checkpoints_for_resume(kind, tmp_path, capsys):
    path = _checkpoint_files(tmp_path)[kind]
    line = refused(tmp_path, capsys, "--resume", str(path))
    assert "--resume" in line and path.name in line


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--batch-size", "1"], "--batch-size 1"),
        (["--seed", str(2**32)], "--seed"),
        (["--seed", "-1"], "--seed"),
        (["--find-lr", "--fast-dev-run"], "--fast-dev-run"),
        (["--find-batch-size-max", "1"], "--find-batch-size-max"),
        (["--task-weights", "0", "--tasks", "digit"], "--task-weights"),
        (["--tasks", "digit,parity", "--task-weights", "0,0"], "--task-weights"),
        (["--wandb-tags", "x" * 65], "--wandb-tags"),
        (["--wandb-project", "team/project"], "--wandb-project"),
        (["--wandb-mode", "online"], "credentials"),
        (["--lr", "-inf"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--limit-train-batches", "0.001"], "--limit-train-batches"),
        (["--limit-val-batches", "0.01"], "--limit-val-batches"),
        (["--val-fraction", "0.9999"], "--val-fraction"),
        (["--width", "1000000000"], "parameters"),
        (["--width", "1e9"], "--width"),
        (["--aug-preview", "--aug-rotate", "10", "--val-fraction", "0.9999"], "no training examples"),
        (["--output-dir", "/proc/runs"], "/proc/runs"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_values_are_one_line(flags, named, tmp_path, capsys):
    assert named in refused(tmp_path, capsys, *flags)


def test_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert "not a directory" in refused(tmp_path, capsys, "--output-dir", str(tmp_path / "file"))


def test_garbage_wandb_mode_in_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "garbage")
    assert "WANDB_MODE" in refused(tmp_path, capsys, "--wandb-mode", "auto")


def test_a_failing_wandb_never_stops_the_run(tmp_path, capsys, monkeypatch):
    """wandb.init failing (a full disk, a broken install) is one warning line; the run trains and tests,
    its metrics in metrics.csv."""
    import wandb

    def broken(**kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(wandb, "init", broken)
    status, run_dir = train(tmp_path, "--wandb-mode", "offline", "--max-epochs", "2")
    assert status == 0
    assert json.loads((run_dir / "results.json").read_text())["wandb_run_id"] is None
    err = capsys.readouterr().err
    assert err.count("W&B failed (") == 1 and "no space left on device" in err, err
    assert "Traceback" not in err and (run_dir / "metrics.csv").read_text().count("val/acc") == 1


def test_negative_values_after_a_space_are_values():
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    a = parse_args(["--bias-init", "-1e-3", "--max-steps", "-1"])
    assert (a.bias_init, a.max_steps) == (-1e-3, -1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: -1\n", "(from {path}): must be > 0"),
        ("optimizer: lamb\n", "(from {path}): invalid choice"),
        ("lr: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
        ("lr: {a: 1}\n", "(from {path}): expected a plain value"),
    ],
    ids=["range", "choice", "nested", "mapping"],
)
def test_config_file_values_name_the_file(text, message, tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert message.format(path=path) in refused(tmp_path, capsys, "--config", str(path))


def test_config_file_problems_say_what_they_are(tmp_path, capsys, monkeypatch):
    assert "is a directory" in refused(tmp_path, capsys, "--config", str(tmp_path))
    path = tmp_path / "locked.yaml"
    path.write_text("lr: 0.1\n")
    real = Path.read_text

    def denied(self, *a, **kw):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", denied)  # root reads any file: simulate a user's mode 000
    assert "permission denied" in refused(tmp_path, capsys, "--config", str(path))


def test_a_huge_learning_rate_is_a_divergence_not_an_overflow(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--lr", "1e300", "--optimizer", "sgd", "--no-batchnorm", "--run-name", "d")
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert "diverged" in err and "ε0 = 1e+300" in err and "--find-lr" in err
    assert "stays in" not in err or (run_dir / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slow
def test_missing_second_node_times_out_with_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MASTER_PORT": "29517"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--dataset",
            "digits",
            "--accelerator",
            "cpu",
            "--num-nodes",
            "2",
            "--ddp-timeout",
            "3",
            "--wandb-mode",
            "disabled",
            "--output-dir",
            str(tmp_path / "runs"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "--ddp-timeout 3" in result.stderr.strip().splitlines()[-1]
    assert not any((tmp_path / "runs").rglob("*.ckpt"))


# ----------------------------------------------------------------------------- data


def test_mnist_with_mismatched_labels(tmp_path, capsys):
    make_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 50) + labels(50).tobytes())
    assert "60 images but 50 labels" in refused(tmp_path, capsys, "--dataset", "mnist", "--data-dir", str(tmp_path))
    write_idx(raw, "train", np.zeros((60, 28, 28), dtype=np.uint8), labels(60) + 10)
    assert "labels must be 0-9" in refused(tmp_path, capsys, "--dataset", "mnist", "--data-dir", str(tmp_path))


def test_garbage_mnist_files_are_named(tmp_path, capsys):
    make_mnist(tmp_path)
    bad = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"garbage, not an idx file")
    assert str(bad) in refused(tmp_path, capsys, "--dataset", "mnist", "--data-dir", str(tmp_path))


def test_corrupt_cifar_batch_is_named(tmp_path, capsys):
    make_cifar(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"\x80\x04garbage")
    assert "data_batch_3" in refused(tmp_path, capsys, "--dataset", "cifar10", "--data-dir", str(tmp_path))


def test_image_folder_with_one_class(tmp_path, capsys):
    make_image_folder(tmp_path / "img", classes=("cat",))
    line = refused(tmp_path, capsys, "--dataset", "image-folder", "--data-dir", str(tmp_path / "img"))
    assert "1 class folder" in line and "at least 2" in line


def test_image_folder_test_labels_match_by_name(tmp_path):
    from {{cookiecutter.project_slug}}.data.cache import load_cached

    make_image_folder(tmp_path / "img", classes=("cat", "dog", "owl"), split="train")
    make_image_folder(tmp_path / "img", classes=("dog", "owl"), split="test")  # no cat in test/
    (_, _), (_, test_labels) = load_cached(DATASETS["image-folder"], tmp_path / "img", False, 16)
    assert sorted(set(test_labels.tolist())) == [1, 2], "dog and owl keep their training indices"


def test_image_folder_test_class_unknown_to_training(tmp_path, capsys):
    make_image_folder(tmp_path / "img", classes=("cat", "dog"), split="train")
    make_image_folder(tmp_path / "img", classes=("cat", "emu"), split="test")
    assert "emu" in refused(tmp_path, capsys, "--dataset", "image-folder", "--data-dir", str(tmp_path / "img"))


def test_corrupt_cache_is_rebuilt_and_stale_temporaries_removed(tmp_path, capsys):
    from {{cookiecutter.project_slug}}.data.cache import cache_path, load_cached

    make_mnist(tmp_path)
    train_part, _ = load_cached(DATASETS["mnist"], tmp_path, False, 32)
    cache = cache_path("mnist", tmp_path, 32)
    cache.write_bytes(cache.read_bytes()[:100])  # truncated by a crash
    dead = cache.with_name(f".{cache.name}.999999999.tmp")  # left by a killed writer (no such process)
    dead.write_bytes(b"partial")
    again, _ = load_cached(DATASETS["mnist"], tmp_path, False, 32)
    assert torch.equal(again[0], train_part[0])
    assert "rebuilding" in capsys.readouterr().err
    assert not dead.exists()
    torch.load(cache, weights_only=True)  # whole again


@pytest.mark.parametrize("dataset", ["mnist", "image-folder"])
def test_read_only_data_dir_trains_without_a_cache(dataset, tmp_path, capsys, monkeypatch):
    from {{cookiecutter.project_slug}}.data import cache

    if dataset == "mnist":
        make_mnist(tmp_path / "data")
    else:
        make_image_folder(tmp_path / "data", classes=("cat", "dog"))

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(cache.torch, "save", read_only)  # root writes anywhere: simulate a read-only mount
    flags = ["--image-size", "16"] if dataset == "image-folder" else []
    status, run_dir = train(
        tmp_path, "--dataset", dataset, "--data-dir", str(tmp_path / "data"), "--fast-dev-run", *flags
    )
    assert status == 0
    assert "cannot write the decoded-data cache" in capsys.readouterr().err
    assert not list((tmp_path / "data").rglob("*.pt")) and not list((tmp_path / "data").rglob("*.tmp"))
