"""Inputs a hostile or careless user gives to training: an image folder holding a FIFO (opening it would
wait for a writer forever) is read without it; nothing hangs; a decoded-data cache that cannot be read is rebuilt."""

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


def test_a_decoded_data_cache_this_user_cannot_read_is_rebuilt(tmp_path, monkeypatch, capsys):
    """Another user's `.tensors/` (mode 700): its files cannot even be looked at. Was a PermissionError traceback;
    now the data is decoded again, with a warning (root reads anything: the refusal is simulated)."""
    from pathlib import Path

    from conftest import images

    from {{cookiecutter.project_slug}}.data.cache import load_cached
    from {{cookiecutter.project_slug}}.datasets import DATASETS

    root = images(tmp_path / "data", 3)
    first = load_cached(DATASETS["image-folder"], root, False, 8)
    cache_dir = root / ".tensors"
    real = Path.is_file

    def denied(self):
        if cache_dir in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", denied)
    again = load_cached(DATASETS["image-folder"], root, False, 8)
    assert again[0][0].equal(first[0][0])
    assert "decoded-data cache" in capsys.readouterr().err
