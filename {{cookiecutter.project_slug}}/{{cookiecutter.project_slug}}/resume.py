"""--resume: find the checkpoint, read what it was trained with, and say in one line why it cannot
continue (not a checkpoint, another project's, or flags that would not fit the saved state)."""

from __future__ import annotations

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
    """The checkpoint's hyperparameters, step and epoch; CheckpointError (one line saying what the file
    is) when it is not a readable checkpoint of this project."""
    from .inference import CheckpointError as Unreadable
    from .inference import load_checkpoint

    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:
        ckpt = load_checkpoint(path)
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except Unreadable as e:
        raise CheckpointError(str(e)) from None
    if "global_step" not in ckpt:
        raise CheckpointError(
            f"{path} holds weights but no training state (no global_step): test or predict with it, or start a new run"
        )
    return {
        "hparams": dict(ckpt["hyper_parameters"]),
        "global_step": int(ckpt["global_step"]),
        "epoch": int(ckpt.get("epoch", 0)),
    }


def flag_values(hparams: dict) -> dict:
    """The flags among a checkpoint's hyperparameters (the data-derived ones are not flags)."""
    return {k: v for k, v in hparams.items() if k in FLAG_BY_NAME}


def incompatible(saved: dict, requested: dict) -> list[str]:
    """The flags whose requested value would not fit the checkpoint's network, data or optimizer state."""
    return [
        f"--{k.replace('_', '-')} {_show(requested[k])} (checkpoint: {_show(saved[k])})"
        for k in RESUME_FIXED
        if k in saved and k in requested and _norm(saved[k]) != _norm(requested[k])
    ]


def _norm(value):
    return list(value) if isinstance(value, tuple) else value


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
