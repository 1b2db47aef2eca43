"""Using a trained checkpoint: find and check it, read a user's images (or table rows) as the network
saw its training inputs, and turn per-task probabilities into rows of class names (predict.py,
export.py, Classifier.predict_images and train.py --test-only share these)."""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .loaders import IMAGE_SUFFIXES

# Hyperparameters every checkpoint of this project carries (module.Classifier saves them).
REQUIRED = ("model", "input_shape", "task_names", "task_classes")
# Gray levels of datasets whose pixels are not 8-bit: scikit-learn's digits hold 0..16. An image file
# (8-bit) is rounded back to these levels, so a test image written as a PNG predicts exactly as in test.
LEVELS = {"digits": 16}


class CheckpointError(Exception):
    """A checkpoint argument that names no checkpoint of this project: one line, exit status 2."""


class InputError(Exception):
    """Input files or tables the model cannot read: one line, exit status 2."""


# ----------------------------------------------------------------------------- checkpoints


def find_checkpoint(arg: str, output_dir: str | Path = "runs") -> Path:
    """`last` → the newest <output_dir>/*/checkpoints/last.ckpt; a run directory → its best.ckpt, else
    last.ckpt; otherwise the path itself."""
    if arg == "last":
        found = sorted(Path(output_dir).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise CheckpointError(f"'last' found no run with checkpoints/last.ckpt under {output_dir}/")
        return found[-1]
    path = Path(arg)
    if path.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            for candidate in (path / "checkpoints" / name, path / name):
                if candidate.is_file():
                    return candidate
        raise CheckpointError(f"{arg}: a directory without checkpoints/best.ckpt or checkpoints/last.ckpt")
    if not path.exists():
        raise CheckpointError(f"{arg}: not found (expected a .ckpt file, a run directory or 'last')")
    if not path.is_file():
        raise CheckpointError(f"{arg}: not a file")
    return path


def _what_is(path: Path, error: Exception) -> str:
    """A few words on a file torch could not read as a checkpoint."""
    if path.stat().st_size == 0:
        return "an empty file"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        return f"a zip archive of {len(names)} files ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
    head = path.read_bytes()[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"a binary file torch cannot read ({str(error).splitlines()[0][:100]})"
    first = text.strip().splitlines()[0][:60] if text.strip() else ""
    return f"a text file starting {first!r}"


def read_hparams(path: Path) -> dict:
    """The checkpoint's hyperparameters, after checking that it is a checkpoint of this project."""
    return dict(load_checkpoint(path)["hyper_parameters"])


def load_checkpoint(path: Path) -> dict:
    """The checkpoint (tensors memory-mapped, not read), after checking that it is one of this project's."""
    try:
        # weights_only: reading a checkpoint never runs code from it (ours hold plain values only).
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same answer to the user
        raise CheckpointError(f"{path} is not a checkpoint of this project: {_what_is(path, e)}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        kind = f"a {type(ckpt).__name__}" if not isinstance(ckpt, dict) else f"a dict of {', '.join(list(ckpt)[:4])}"
        raise CheckpointError(
            f"{path} is not a checkpoint of this project: a PyTorch file holding {kind}, not a Lightning checkpoint"
        )
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or any(k not in hp for k in REQUIRED):
        raise CheckpointError(
            f"{path} is not a checkpoint of this project: a Lightning checkpoint without this "
            "project's hyper_parameters (model, input_shape, task_names, task_classes)"
        )
    return ckpt


def class_names_of(hp: dict) -> list[list[str]]:
    """Per task, its class names; checkpoints from before names were saved get "0", "1", …."""
    saved = hp.get("task_class_names") or []
    names = []
    for t, c in enumerate(hp["task_classes"]):
        if t < len(saved) and len(saved[t]) == c:
            names.append([str(n) for n in saved[t]])
        else:
            names.append([str(i) for i in range(c)])
    return names


# ----------------------------------------------------------------------------- inputs


def list_images(paths: Sequence[str | Path]) -> list[str]:
    """Image files among `paths`: folders are searched recursively (hidden entries skipped), files are
    taken as given whatever their suffix (a bad one is skipped later with a warning)."""
    files: list[str] = []
    for arg in map(str, paths):
        if os.path.isdir(arg):
            # os.walk and plain strings: pathlib costs more than decoding a small PNG per file.
            found = []
            for folder, dirs, names in os.walk(arg):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found += [
                    os.path.join(folder, n)
                    for n in names
                    if not n.startswith(".") and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES
                ]
            files += sorted(found)
        elif os.path.isfile(arg):
            files.append(arg)
        else:
            raise InputError(f"{arg}: not found")
    if not files:
        raise InputError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, paths))}")
    return files


def decode_image(path: str | Path, input_shape: Sequence[int]):
    """An image file as 8-bit pixels [C, H, W] (a NumPy array) with the training data's channels (L or
    RGB) and size (resized as the image-folder data is: antialiased bilinear on 8-bit pixels). NumPy, not
    torch, per image: converting each small image to a tensor costs as much as decoding it."""
    from PIL import Image

    c, h, w = input_shape
    if c not in (1, 3):
        raise InputError(f"the model takes {c}-channel inputs, not images")
    mode = "L" if c == 1 else "RGB"
    with Image.open(path) as img:
        pixels = np.array(img if img.mode == mode else img.convert(mode))  # [H', W'] or [H', W', 3] uint8
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    if pixels.shape[1:] != (h, w):
        from torchvision.transforms.v2 import functional as TF

        pixels = TF.resize(torch.from_numpy(np.ascontiguousarray(pixels)), [h, w], antialias=True).numpy()
    return pixels


def to_unit(x: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """8-bit pixels → floats in [0, 1] (rounded to `levels` + 1 gray levels when the training data had those)."""
    x = x.float().div_(255)
    return x.mul_(levels).round_().div_(levels) if levels else x


def read_image(path: str | Path, input_shape: Sequence[int], levels: int | None = None) -> torch.Tensor:
    """An image file as the network's input [C, H, W] in [0, 1]."""
    return to_unit(torch.from_numpy(decode_image(path, input_shape)), levels)


class ImageFiles(Dataset):
    """(file, 8-bit image [C, H, W] or None, error or None) per file: an undecodable file does not stop
    the others."""

    def __init__(self, files: Sequence[str], input_shape: Sequence[int]):
        self.files, self.input_shape = list(files), list(input_shape)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        path = self.files[i]
        try:
            return path, decode_image(path, self.input_shape), None
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - PIL raises many kinds for a bad file
            return path, None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


class Keys:
    """The files (or row numbers) of a batch, and the files skipped with why. A plain object, not a list:
    Lightning moves a batch to the device by walking its lists, a cost per file for nothing."""

    __slots__ = ("keys", "failed")

    def __init__(self, keys: list, failed: list[tuple[str, str]]):
        self.keys, self.failed = keys, failed


class CollateImages:
    """→ (images [B, C, H, W] in [0, 1], Keys: their files, and (file, error) of those that could not be
    decoded). Pixels become floats once per batch, not per image."""

    def __init__(self, levels: int | None = None):
        self.levels = levels

    def __call__(self, items):
        good = [(key, x) for key, x, err in items if err is None]
        failed = [(key, err) for key, _, err in items if err is not None]
        if not good:
            return torch.empty(0), Keys([], failed)
        x = torch.from_numpy(np.stack([x for _, x in good]))  # [B, C, H, W] uint8
        return to_unit(x, self.levels), Keys([key for key, _ in good], failed)


def read_table(path: str | Path, features: Sequence[str], input_shape: Sequence[int]) -> tuple[torch.Tensor, list]:
    """A CSV file's feature columns as inputs [N, *input_shape] (float) and the row numbers (from 1)."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = [c for c in features if c not in columns]
            if missing:
                raise InputError(
                    f"{path}: missing the feature column {missing[0]!r} the model was trained on "
                    f"({len(missing)} of {len(features)} missing)"
                )
            rows = []
            for n, row in enumerate(reader, start=2):  # line 1 is the header
                try:
                    rows.append([float(row[c]) for c in features])
                except (TypeError, ValueError):
                    bad = next(c for c in features if not _is_number(row[c]))
                    raise InputError(f"{path}: line {n}, column {bad!r}: not a number ({row[bad]!r})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: cannot read as CSV ({str(e).splitlines()[0]})") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    x = torch.tensor(rows, dtype=torch.float32)
    return x.view(len(rows), *input_shape) if x[0].numel() == _prod(input_shape) else x, list(range(1, len(rows) + 1))


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ----------------------------------------------------------------------------- outputs


def probabilities(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per task, class probabilities [B, C] from the heads' logits: softmax, or for a binary head's one
    logit b the two probabilities (1 − σ(b), σ(b))."""
    probs = []
    for logits in outputs:
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits.float())
            probs.append(torch.cat([1 - p, p], dim=1))
        else:
            probs.append(torch.softmax(logits.float(), dim=1))
    return probs


def header(task_names: Sequence[str], task_classes: Sequence[int], top_k: int, key: str = "file") -> list[str]:
    """`file`, then per task `<task>` (the predicted class name) and `<task>_prob`, and for top-k > 1
    `<task>_top2`, `<task>_top2_prob`, …."""
    columns = [key]
    for name, c in zip(task_names, task_classes):
        for rank in range(1, min(top_k, c) + 1):
            suffix = "" if rank == 1 else f"_top{rank}"
            columns += [f"{name}{suffix}", f"{name}{suffix}_prob"]
    return columns


def rows(
    keys: Sequence,
    probs: list[torch.Tensor],
    task_names: Sequence[str],
    names: list[list[str]],
    top_k: int,
    key: str = "file",
) -> list[dict]:
    """One dict per input: its key, then per task the top-k class names and probabilities."""
    out = [{key: k} for k in keys]
    for task, p, labels in zip(task_names, probs, names):
        values, indices = p.detach().cpu().topk(min(top_k, p.shape[1]), dim=1)
        for row, vs, ix in zip(out, values.tolist(), indices.tolist()):
            for rank, (v, i) in enumerate(zip(vs, ix), start=1):
                suffix = "" if rank == 1 else f"_top{rank}"
                row[f"{task}{suffix}"] = labels[i]
                row[f"{task}{suffix}_prob"] = round(v, 6)
    return out
