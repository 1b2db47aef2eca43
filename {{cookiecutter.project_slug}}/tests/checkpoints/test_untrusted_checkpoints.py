"""Checkpoints from someone else: a pickled payload or an `_instantiator` never runs (a marker file is
never created), hyperparameters that do not fit and NaN weights are one line naming the field, on
every surface of the core that reads a checkpoint (--resume, --test-only, the notebook loader). One
tiny checkpoint per module, edited per case: no training per case."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from conftest import train

from {{cookiecutter.project_slug}}.errors import CheckpointError
from {{cookiecutter.project_slug}}.training.module import load_module

MARKER = "payload_ran"


class Payload:
    """Unpickling it would run `touch <marker>`: what a hostile checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 3-step digits checkpoint."""
    tmp = tmp_path_factory.mktemp("tiny")
    code, run_dir = train(tmp, "--max-steps", "3", "--width", "8", "--run-name", "tiny")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


def edited(tiny, tmp_path, change) -> Path:
    ckpt = torch.load(tiny, weights_only=True)
    change(ckpt)
    path = tmp_path / "edited.ckpt"
    torch.save(ckpt, path)
    return path


def instantiator(tmp_path):
    """A module on sys.path that creates the marker when imported, named by `_instantiator`."""
    (tmp_path / "evil_module.py").write_text(
        f"from pathlib import Path\nPath({str(tmp_path / MARKER)!r}).touch()\n"
        "def make(cls, kw):\n    return cls(**kw)\n"
    )
    sys.path.insert(0, str(tmp_path))
    return lambda c: c["hyper_parameters"].update(_instantiator="evil_module.make")


HOSTILE = {
    "pickled payload": lambda tmp_path: lambda c: c["hyper_parameters"].update(evil=Payload(tmp_path / MARKER)),
    "_instantiator": instantiator,
    "payload in the state": lambda tmp_path: lambda c: c.update(loops=Payload(tmp_path / MARKER)),
}


def surfaces(ckpt: Path, tmp_path: Path) -> dict:
    """Each way a checkpoint is read: a callable returning the exit status."""
    return {
        "--resume": lambda: _exit(lambda a: train(tmp_path, *a)[0], ["--resume", str(ckpt), "--max-epochs", "2"]),
        "--test-only": lambda: _exit(lambda a: train(tmp_path, *a)[0], ["--test-only", "--resume", str(ckpt)]),
        "notebook loader": lambda: _loader(ckpt),
    }


def _exit(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def _loader(ckpt: Path) -> int:
    with pytest.raises(CheckpointError) as e:
        load_module(ckpt)
    assert "\n" not in str(e.value)
    print(f"loader: error: {e.value}", file=sys.stderr)
    return 2


def one_line_refusal(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


SURFACES = ("--resume", "--test-only", "notebook loader")


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_checkpoint_never_runs_code(tiny, tmp_path, capsys, hostile, surface):
    ckpt = edited(tiny, tmp_path, HOSTILE[hostile](tmp_path))
    capsys.readouterr()
    code = surfaces(ckpt, tmp_path)[surface]()
    one_line_refusal(capsys, code, "refused", str(ckpt))
    assert not (tmp_path / MARKER).exists()
    assert not list((tmp_path / "runs").glob("*/results.json"))
    sys.modules.pop("evil_module", None)


def _set(key, value):
    return lambda c: c["hyper_parameters"].update({key: value})


def _nan(c):
    name = next(k for k, v in c["state_dict"].items() if v.is_floating_point() and k.startswith("net."))
    c["state_dict"][name] = torch.full_like(c["state_dict"][name], float("nan"))


MISFITS = {
    "width": (_set("width", 16), "width"),
    "width of a wrong type": (_set("width", "wide"), "width"),
    "model name": (_set("model", "no-such-net"), "model"),
    "model of another kind": (
        lambda c: c["hyper_parameters"].update(model="cnn" if c["hyper_parameters"]["model"] == "mlp" else "mlp"),
        "model",
    ),
    "task classes edited": (_set("task_classes", [7]), "classes"),
    "task classes not numbers": (_set("task_classes", ["ten"]), "task_classes"),
    "tasks and classes disagree": (_set("task_names", ["digit", "parity"]), "task_classes"),
    "input shape": (_set("input_shape", [1, 8]), "input_shape"),
    "a kind of task not registered": (_set("task_kinds", ["ordinal"]), "task_kinds"),
    "a field of another version missing": (lambda c: c["hyper_parameters"].pop("init"), "init"),
    "NaN weights": (_nan, "NaN"),
}


@pytest.mark.parametrize("surface", ("--test-only", "notebook loader"))
@pytest.mark.parametrize("misfit", MISFITS)
def test_a_checkpoint_that_does_not_fit_is_one_line_naming_the_field(tiny, tmp_path, capsys, misfit, surface):
    change, field = MISFITS[misfit]
    ckpt = edited(tiny, tmp_path, change)
    capsys.readouterr()
    code = surfaces(ckpt, tmp_path)[surface]()
    one_line_refusal(capsys, code, field)
    assert not list((tmp_path / "runs").glob("*/results.json"))


def test_the_untouched_checkpoint_still_loads_everywhere(tiny, tmp_path, capsys):
    """The checks refuse what is foreign, not this project's own checkpoints."""
    ckpt = edited(tiny, tmp_path, lambda c: None)
    assert load_module(ckpt).hparams.width == 8
    assert train(tmp_path, "--test-only", "--resume", str(ckpt))[0] == 0
