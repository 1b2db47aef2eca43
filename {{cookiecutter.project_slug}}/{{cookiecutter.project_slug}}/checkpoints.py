"""Checkpoints: find one (`last`, a run directory, a file), read it without running code, check it is this project's."""

import pickle
import re
import zipfile
from pathlib import Path

from .data.tasks import TASK_KINDS, kinds_of
from .errors import CheckpointError, one_line

REQUIRED = ("model", "input_shape", "task_names", "task_classes")  # every checkpoint's (TaskModule saves them)
NAMES = {"best": ("best.ckpt", "last.ckpt"), "last": ("last.ckpt",)}


def find_checkpoint(arg: str, output_dir: str | Path = "runs", prefer: str = "best") -> Path:
    """The checkpoint `arg` names: `last` → the newest <output_dir>/*/checkpoints/last.ckpt; a run directory →
    its best.ckpt, else last.ckpt (prefer="best"), or last.ckpt only (prefer="last": to resume); else the path."""
    if arg == "last":
        found = sorted(Path(output_dir).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise CheckpointError(f"'last' found no previous run with checkpoints/last.ckpt under {output_dir}/")
        return found[-1]
    path = Path(arg)
    if path.is_dir():
        candidates = [folder / name for name in NAMES[prefer] for folder in (path / "checkpoints", path)]
        if found := next((c for c in candidates if c.is_file()), None):
            return found
        raise CheckpointError(f"{arg}: a directory without {' or '.join(f'checkpoints/{n}' for n in NAMES[prefer])}")
    if not path.exists():
        raise CheckpointError(f"{arg}: not found (expected a .ckpt file, a run directory or 'last')")
    if not path.is_file():
        raise CheckpointError(f"{arg}: not a file")
    return path


def run_directory_of(ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to (<run>/checkpoints/x.ckpt, or <run>/x.ckpt)."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def _what_is(path: Path, error: Exception) -> str:
    """A few words on a file torch could not read as a checkpoint."""
    if path.stat().st_size == 0:
        return "an empty file"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        return f"a zip archive of {len(names)} files ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
    try:
        text = path.read_bytes()[:512].decode("utf-8").strip()
    except UnicodeDecodeError:
        return f"a binary file torch cannot read ({one_line(error)[:100]})"
    return f"a text file starting {text.splitlines()[0][:60] if text else ''!r}"


def read_hparams(path: str | Path) -> dict:
    """The checkpoint's hyperparameters, after checking that it is a checkpoint of this project."""
    return dict(load_checkpoint(Path(path))["hyper_parameters"])


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint (tensors memory-mapped, not read), after checking that it is one of this project's."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:  # weights_only: reading a checkpoint never runs code from it (ours hold plain values only)
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except pickle.UnpicklingError as e:  # weights_only refused an object that only running code could rebuild
        what = found.group(1) if (found := re.search(r"GLOBAL (\S+)", str(e))) else "not plain data"
        raise CheckpointError(f"{path}: refused, it holds a Python object ({what}), not plain values") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same answer to the user
        raise CheckpointError(f"{path} is not a checkpoint of this project: {_what_is(path, e)}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        kind = f"a {type(ckpt).__name__}" if not isinstance(ckpt, dict) else f"a dict of {', '.join(list(ckpt)[:4])}"
        raise CheckpointError(f"{path}: a PyTorch file holding {kind}, not a Lightning checkpoint of this project")
    if not isinstance(hp := ckpt.get("hyper_parameters"), dict) or any(k not in hp for k in REQUIRED):
        raise CheckpointError(f"{path}: a Lightning checkpoint without this project's hyper_parameters {REQUIRED}")
    check_hparams(hp, path)
    return ckpt


def _plain(value, depth: int = 0) -> bool:
    if isinstance(value, dict):
        return depth <= 8 and all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return depth <= 8 and all(_plain(v, depth + 1) for v in value)
    return isinstance(value, (type(None), bool, int, float, str))


def check_hparams(hp: dict, path: Path) -> None:
    """Before anything imports or builds from them: plain values only, no `_` key (a directive Lightning or
    another tool acts on: `_instantiator` names a class Lightning imports and calls; no flag of ours starts so),
    and the fields every checkpoint carries in shape (an edited file: one line naming the field, not a traceback)."""
    for key, value in hp.items():
        if not isinstance(key, str) or key.startswith("_"):
            raise CheckpointError(f"{path}: refused, its hyperparameters hold {key!r}, a key this project never writes")
        if not _plain(value):
            raise CheckpointError(f"{path}: refused, hyperparameter {key!r} holds a {type(value).__name__}, not plain")
    names, classes, shape = hp["task_names"], hp["task_classes"], hp["input_shape"]
    count = lambda n, top: isinstance(n, int) and not isinstance(n, bool) and 0 < n <= top
    seqs = isinstance(names, (list, tuple)) and isinstance(classes, (list, tuple))
    checks = {
        "model": isinstance(hp["model"], str) and bool(hp["model"]),
        "input_shape": isinstance(shape, list | tuple) and len(shape) in (2, 3) and all(count(n, 65536) for n in shape),
        "task_names": isinstance(names, (list, tuple)) and bool(names) and all(isinstance(n, str) for n in names),
        "task_classes": seqs and len(classes) == len(names) and all(count(c, 1 << 20) for c in classes),
    }
    checks |= {k: count(hp[k], 1 << 20) for k in ("width", "depth") if hp.get(k) not in (None, "auto")}
    kinds = hp.get("task_kinds") or []  # none saved: every task is classification
    known = isinstance(kinds, (list, tuple)) and {str(k) for k in kinds} <= set(TASK_KINDS)
    checks["task_kinds"] = known and (not checks["task_classes"] or len(kinds) in (0, len(classes)))
    for key in ("label_frequencies", "task_class_names"):  # per task of classes, one entry per class
        saved = hp.get(key)
        if checks["task_classes"] and checks["task_kinds"] and isinstance(saved, (list, tuple)) and saved:
            checks["task_classes"] = len(saved) == len(classes) and all(
                isinstance(s, (list, tuple)) and (len(s) == c or k.numeric)
                for s, c, k in zip(saved, classes, kinds_of(hp))
            )
    if bad := next((k for k, ok in checks.items() if not ok), None):
        raise CheckpointError(f"{path}: hyperparameter {bad!r} does not fit this project ({str(hp[bad])[:80]!r})")


def class_names_of(hp: dict) -> list[list[str]]:
    """Per task, its class names; checkpoints from before names were saved get "0", "1", …."""
    saved = hp.get("task_class_names") or []
    names = lambda t, c: saved[t] if t < len(saved) and len(saved[t]) == c else range(c)
    return [[str(n) for n in names(t, c)] for t, c in enumerate(hp["task_classes"])]


def training_state(path: Path) -> dict:
    """What --resume needs: hyperparameters, step and epoch (a file of weights without training state is refused)."""
    ckpt = load_checkpoint(path)
    if "global_step" not in ckpt:
        raise CheckpointError(f"{path}: weights only, no training state (global_step){% if cookiecutter.inference %}; test or predict with it{% else %} to resume{% endif %}")
    state = {"hparams": dict(ckpt["hyper_parameters"]), "global_step": int(ckpt["global_step"])}
    return {**state, "epoch": int(ckpt.get("epoch", 0))}
