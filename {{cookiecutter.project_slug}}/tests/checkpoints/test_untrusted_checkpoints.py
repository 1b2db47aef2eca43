"""Checkpoints from someone else: a pickled payload or an `_instantiator` never runs (a marker file is
never created), hyperparameters that do not fit and NaN weights are one line naming the field, on
every surface of the core that reads a checkpoint (--resume, {% if cookiecutter.inference %}--test-only, {% endif %}the notebook loader). One
tiny checkpoint per module, edited per case: no training per case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from checkpoint_cases import HOSTILE, MARKER, MISFITS, edited
from conftest import exit_status, refused, train

from {{cookiecutter.project_slug}}.errors import CheckpointError
from {{cookiecutter.project_slug}}.training.module import load_module


def surfaces(ckpt: Path, tmp_path: Path) -> dict:
    """Each way a checkpoint is read: a callable returning the exit status."""
    return {
        "--resume": lambda: exit_status(lambda a: train(tmp_path, *a)[0], ["--resume", str(ckpt), "--max-epochs", "2"]),
{%- if cookiecutter.inference %}
        "--test-only": lambda: exit_status(lambda a: train(tmp_path, *a)[0], ["--test-only", "--resume", str(ckpt)]),
{%- endif %}
        "notebook loader": lambda: _loader(ckpt),
    }


def _loader(ckpt: Path) -> int:
    with pytest.raises(CheckpointError) as e:
        load_module(ckpt)
    assert "\n" not in str(e.value)
    print(f"loader: error: {e.value}", file=sys.stderr)
    return 2


SURFACES = ("--resume",{% if cookiecutter.inference %} "--test-only",{% endif %} "notebook loader")


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_checkpoint_never_runs_code(tiny, tmp_path, capsys, hostile, surface):
    ckpt = edited(tiny, tmp_path, HOSTILE[hostile](tmp_path))
    capsys.readouterr()
    code = surfaces(ckpt, tmp_path)[surface]()
    refused(capsys, code, "refused", str(ckpt))
    assert not (tmp_path / MARKER).exists()
    assert not list((tmp_path / "runs").glob("*/results.json"))
    sys.modules.pop("evil_module", None)


@pytest.mark.parametrize("surface", [{% if cookiecutter.inference %}"--test-only", {% endif %}"notebook loader"])
@pytest.mark.parametrize("misfit", MISFITS)
def test_a_checkpoint_that_does_not_fit_is_one_line_naming_the_field(tiny, tmp_path, capsys, misfit, surface):
    change, field = MISFITS[misfit]
    ckpt = edited(tiny, tmp_path, change)
    capsys.readouterr()
    code = surfaces(ckpt, tmp_path)[surface]()
    refused(capsys, code, field)
    assert not list((tmp_path / "runs").glob("*/results.json"))


def test_the_untouched_checkpoint_still_loads_everywhere(tiny, tmp_path, capsys):
    """The checks refuse what is foreign, not this project's own checkpoints."""
    ckpt = edited(tiny, tmp_path, lambda c: None)
    assert load_module(ckpt).hparams.width == 8
{%- if cookiecutter.inference %}
    assert train(tmp_path, "--test-only", "--resume", str(ckpt))[0] == 0
{%- else %}
    assert train(tmp_path, "--resume", str(ckpt), "--max-epochs", "2")[0] == 0
{%- endif %}
