"""Checkpoints from someone else on predict.py and export.py: a pickled payload or an `_instantiator`
never runs (a marker file is never created), hyperparameters that do not fit and NaN weights are one
line naming the field. One tiny checkpoint per module, edited per case: no training per case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from checkpoint_cases import HOSTILE, MARKER, MISFITS, edited
from conftest import exit_status, refused

from {{cookiecutter.project_slug}}.commands.export import main as export
from {{cookiecutter.project_slug}}.commands.predict import main as predict


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A PNG of a digit to predict on."""
    from PIL import Image

    path = tmp_path_factory.mktemp("image") / "digit.png"
    Image.new("L", (8, 8), 128).save(path)
    return path


def surfaces(ckpt: Path, image: Path, tmp_path: Path) -> dict:
    """Each way a checkpoint is read: a callable returning the exit status."""
    runs = str(tmp_path / "runs")
    return {
        "predict.py": lambda: predict([str(ckpt), str(image), "--output", str(tmp_path / "p.csv")]),
        "export.py": lambda: exit_status(export, [str(ckpt), "--format", "torchscript", "--output-dir", runs]),
    }


SURFACES = ("predict.py", "export.py")


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_checkpoint_never_runs_code(tiny, image, tmp_path, capsys, hostile, surface):
    ckpt = edited(tiny, tmp_path, HOSTILE[hostile](tmp_path))
    capsys.readouterr()
    code = surfaces(ckpt, image, tmp_path)[surface]()
    refused(capsys, code, "refused", str(ckpt))
    assert not (tmp_path / MARKER).exists()
    assert not (tmp_path / "p.csv").exists() and not list((tmp_path / "runs").glob("*/results.json"))
    sys.modules.pop("evil_module", None)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("misfit", MISFITS)
def test_a_checkpoint_that_does_not_fit_is_one_line_naming_the_field(tiny, image, tmp_path, capsys, misfit, surface):
    change, field = MISFITS[misfit]
    ckpt = edited(tiny, tmp_path, change)
    capsys.readouterr()
    code = surfaces(ckpt, image, tmp_path)[surface]()
    refused(capsys, code, field)
    assert not (tmp_path / "p.csv").exists() and not list(tmp_path.glob("*.pt"))
    assert not list((tmp_path / "runs").glob("*/results.json"))


def test_the_untouched_checkpoint_still_predicts(tiny, image, tmp_path, capsys):
    """The checks refuse what is foreign, not this project's own checkpoints."""
    ckpt = edited(tiny, tmp_path, lambda c: None)
    assert predict([str(ckpt), str(image), "--output", str(tmp_path / "p.csv")]) == 0
