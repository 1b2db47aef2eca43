"""Checkpoints from someone else, as the checkpoint tests of every reader build them: hostile payloads
(a pickled command, an `_instantiator`) that must never run, and hyperparameters or weights that do
not fit, each with the field its one-line refusal names. A case edits one tiny checkpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

MARKER = "payload_ran"  # the file a payload would create: it must never exist
FIXTURE = Path(__file__).parent / "fixtures" / "v0-digits-mlp-d1-w16.ckpt"  # saved by an earlier layout


class Payload:
    """Unpickling it would run `touch <marker>`: what a hostile checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def edited(ckpt: Path, tmp_path: Path, change) -> Path:
    """A copy of `ckpt` with `change(checkpoint dict)` applied."""
    checkpoint = torch.load(ckpt, weights_only=True)
    change(checkpoint)
    path = tmp_path / "edited.ckpt"
    torch.save(checkpoint, path)
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
    "input shape": (_set("input_shape", [1, 8, 8, 8]), "input_shape"),  # 2: a sequence, 3: an image
    "a kind of task not registered": (_set("task_kinds", ["ordinal"]), "task_kinds"),
    "a field of another version missing": (lambda c: c["hyper_parameters"].pop("init"), "init"),
    "NaN weights": (_nan, "NaN"),
}
