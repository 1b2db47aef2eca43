"""Image inputs a hostile or careless user gives predict.py: a FIFO, a device, a non-UTF-8 file name.
Each refusal: exit 2, one line, no traceback, nothing written; nothing hangs (a bounded subprocess
for the FIFO)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HANG, ROOT, refused, train
from PIL import Image

from {{cookiecutter.project_slug}}.commands.predict import main as predict


def predictions(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def image_ckpt(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("img")
    code, run_dir = train(tmp, "--max-steps", "3", "--width", "8", "--run-name", "t")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_a_fifo_or_device_among_the_images_never_blocks(image_ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (8, 8), 9).save(folder / "good.png")
    os.mkfifo(folder / "fifo.png")  # today's hang: opening it waits for a writer
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, str(ROOT / "predict.py"), str(image_ckpt), "--accelerator", "cpu"]
    done = subprocess.run(
        [*run, str(folder), "--output", str(tmp_path / "p.csv")], env=env, capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0, done.stderr
    assert [r["file"] for r in predictions(tmp_path / "p.csv")] == [str(folder / "good.png")]


@pytest.mark.parametrize("given", ["fifo", "/dev/zero"])
def test_a_fifo_or_device_given_by_name_is_one_line(image_ckpt, tmp_path, capsys, given):
    path = tmp_path / "fifo.png" if given == "fifo" else Path(given)
    if given == "fifo":
        os.mkfifo(path)
    code = predict([str(image_ckpt), str(path), "--output", str(tmp_path / "q.csv")])  # checked before opening
    refused(capsys, code, "not a regular file", str(path))
    assert not (tmp_path / "q.csv").exists()


def test_a_file_name_that_is_not_utf8_is_predicted_and_written_back_as_its_bytes(image_ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = b"caf\xe9.png"  # Latin-1: not UTF-8
    Image.new("L", (8, 8), 9).save(os.path.join(os.fsencode(folder), name))
    assert predict([str(image_ckpt), str(folder), "--output", str(tmp_path / "p.csv")]) == 0
    assert name in (tmp_path / "p.csv").read_bytes()
