"""A checkpoint written before the package was laid out by concern (a digits MLP, depth 1, width 16,
one epoch: tests/fixtures/v0-digits-mlp-d1-w16.ckpt) still predicts and exports."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import data_options
from PIL import Image

from {{cookiecutter.project_slug}}.commands.export import main as export
from {{cookiecutter.project_slug}}.commands.predict import main as predict
from {{cookiecutter.project_slug}}.data.memory import ImageDataModule
from {{cookiecutter.project_slug}}.datasets import DATASETS

pytestmark = pytest.mark.slow


def test_an_old_checkpoint_predicts_and_exports(old_run, tmp_path):
    dm = ImageDataModule(DATASETS["digits"], data_options(seed=0))
    dm.setup()
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(dm.test_set.x[:5]):
        Image.fromarray((image[0] * 255).round().byte().numpy()).save(folder / f"{i}.png")
    out = tmp_path / "p.csv"
    assert predict([str(old_run), str(folder), "--output", str(out), "--accelerator", "cpu"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and all(r["digit"] in [str(d) for d in range(10)] for r in rows)
    exported = tmp_path / "v0.torchscript.pt"
    assert export([str(old_run), "--format", "torchscript", "--output", str(exported)]) == 0
    assert exported.is_file() and json.loads(exported.with_name(exported.name + ".json").read_text())["tasks"]
