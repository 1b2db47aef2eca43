"""--resume: find the checkpoint, read what it was trained with, and say in one line why it cannot
continue (not a checkpoint, another project's, or flags that would not fit the saved state)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from .flags import FLAG_BY_NAME, RESUME_FIXED


class CheckpointError(Exception):
    """A --resume checkpoint that cannot be used: one line for the user, exit status 2."""


def locate_checkpoint(resume: str, output_dir: str) -> tuple[Path, Path]:
    """`last` → the newest <output-dir>/*/checkpoints/last.ckpt; a run directory → its last.ckpt; a
    path → that file. Returns (checkpoint, run directory)."""
    if resume == "last":
        out = Path(output_dir)
        found = sorted(out.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise CheckpointError(f"'last' found no previous run with checkpoints/last.ckpt under {out}/")
        ckpt = found[-1]
    else:
        ckpt = Path(resume)
        if ckpt.is_dir():
            candidates = [ckpt / "checkpoints" / "last.ckpt", ckpt / "last.ckpt"]
            ckpt = next((c for c in candidates if c.is_file()), None)
            if ckpt is None:
                raise CheckpointError(f"{resume} is a directory without checkpoints/last.ckpt")
        elif not ckpt.exists():
            raise CheckpointError(f"expected 'last', a run directory or a checkpoint file, got {resume!r} (not found)")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return ckpt, run_dir


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's hyperparameters, step and epoch; CheckpointError when it is not a readable
    checkpoint of this project. Tensors stay on disk (mmap): reading a large checkpoint is quick."""
    import pickle

    import torch

    try:
        if path.stat().st_size == 0:
            raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint")
        if zipfile.is_zipfile(path):
            ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
        else:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except CheckpointError:
        raise
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory, not a checkpoint file") from None
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, ImportError, ModuleNotFoundError, TypeError, KeyError, IndexError,
            UnicodeDecodeError, MemoryError) as e:
        first = str(e).splitlines()[0][:160] if str(e) else ""
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (corrupt or truncated? "
                              f"{type(e).__name__}: {first})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "global_step" not in ckpt:
        found = f"a {type(ckpt).__name__}" + (f" with keys {', '.join(map(str, list(ckpt)[:6]))}"
                                              if isinstance(ckpt, dict) else "")
        raise CheckpointError(f"{path} is not a Lightning checkpoint (found {found})")
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict) or "task_classes" not in hparams or "model" not in hparams:
        raise CheckpointError(f"{path} is a Lightning checkpoint, but not of this project "
                              f"(its hyperparameters lack model/task_classes)")
    return {"hparams": dict(hparams), "global_step": int(ckpt["global_step"]), "epoch": int(ckpt.get("epoch", 0))}


def flag_values(hparams: dict) -> dict:
    """The flags among a checkpoint's hyperparameters (the data-derived ones are not flags)."""
    return {k: v for k, v in hparams.items() if k in FLAG_BY_NAME}


def incompatible(saved: dict, requested: dict) -> list[str]:
    """The flags whose requested value would not fit the checkpoint's network, data or optimizer state."""
    return [f"--{k.replace('_', '-')} {_show(requested[k])} (checkpoint: {_show(saved[k])})" for k in RESUME_FIXED
            if k in saved and k in requested and _norm(saved[k]) != _norm(requested[k])]


def _norm(value):
    return list(value) if isinstance(value, tuple) else value


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
