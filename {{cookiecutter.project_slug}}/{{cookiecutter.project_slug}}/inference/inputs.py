"""A user's inputs, read as the network saw its training inputs: image files (converted to the training data's channels,
size and gray levels) or a table's feature columns (read by the same CSV reader as training: data/tables.read_csv)."""

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.loaders import IMAGE_SUFFIXES
from ..errors import DataError, InputError

# Gray levels of datasets whose pixels are not 8-bit: scikit-learn's digits hold 0..16. An image file
# (8-bit) is rounded back to these levels, so a test image written as a PNG predicts exactly as in test.
LEVELS = {"digits": 16}
FLOAT32_MAX = float(np.finfo(np.float32).max)  # past this a float32 input is inf


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
            # A FIFO or a device named x.png would block the reader forever: regular files only.
            files += sorted(f for f in found if os.path.isfile(f))
        elif os.path.isfile(arg):
            files.append(arg)
        elif os.path.exists(arg):
            raise InputError(f"{arg}: not a regular file (a pipe, socket or device cannot be read as an input)")
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


def read_rows(path: str | Path, features: Sequence[str], input_shape: Sequence[int]) -> tuple[torch.Tensor, list]:
    """A CSV file's feature columns as inputs [N, *input_shape] (float) and the row numbers (from 1)."""
    from ..data.tables import read_csv

    try:
        table = read_csv(Path(path), prefix="")
    except DataError as e:
        raise InputError(f"{path}: cannot read as CSV ({str(e).strip()})") from None
    columns = [c.strip() for c in table[0]]
    missing = [c for c in features if c not in columns]
    if missing:
        raise InputError(
            f"{path}: missing the feature column {missing[0]!r} the model was trained on "
            f"({len(missing)} of {len(features)} missing)"
        )
    where = [columns.index(c) for c in features]
    rows = []
    for n, row in enumerate(table[1:], start=2):  # line 1 is the header
        cells = [row[j].strip() if j < len(row) else "" for j in where]
        if not all(_is_number(c) for c in cells):
            # Training refuses these too (tables.read_table): a NaN or inf input gives a NaN prediction.
            bad = next(f for f, c in zip(features, cells) if not _is_number(c))
            shown = cells[features.index(bad)]
            why = f"not a finite number ({shown!r}; float32 inputs end at 3.4e38)"
            raise InputError(f"{path}: line {n}, column {bad!r}: {why}")
        rows.append([float(c) for c in cells])
    if not rows:
        raise InputError(f"{path}: no rows")
    x = torch.tensor(rows, dtype=torch.float32)
    return x.view(len(rows), *input_shape) if x[0].numel() == _prod(input_shape) else x, list(range(1, len(rows) + 1))


def _is_number(text) -> bool:
    """A number finite in float32, the network's inputs (as tables.read_table accepts for training: not nan, inf,
    text, or 1e39, finite in float64 but inf in float32)."""
    try:
        return math.isfinite(float(text)) and abs(float(text)) <= FLOAT32_MAX
    except (TypeError, ValueError):
        return False


def check_units(hp: dict, ckpt) -> None:
    """The checkpoint's target statistics (a regression output is z·σ + μ) are finite numbers: else every
    prediction would be NaN, so refuse the checkpoint."""
    for name in ("target_mean", "target_std"):
        values = hp.get(name) or []
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= FLOAT32_MAX for v in values):
            raise InputError(
                f"{ckpt}: its {name} ({values[:4]}) is not finite: predictions in the target's units would be NaN"
            )


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
