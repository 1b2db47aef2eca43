"""Inputs a hostile or careless user gives to training: an image folder holding a FIFO (opening it would
wait for a writer forever) is read without it; nothing hangs."""

from __future__ import annotations

import os

from PIL import Image


def test_training_passes_over_a_fifo_in_an_image_folder(tmp_path):
    from {{cookiecutter.project_slug}}.data.loaders import load_image_folder

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / c / f"{i}.png")
    os.mkfifo(tmp_path / "a" / "fifo.png")  # opening it would wait for a writer forever
    (x, y), _ = load_image_folder(tmp_path, False, 8)
    assert x.shape == (6, 3, 8, 8) and y.tolist() == [0, 0, 0, 1, 1, 1]
