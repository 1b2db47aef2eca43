"""The decoded-data cache: a dataset's files are decoded once into uint8 tensors and kept under `<data-dir>/.tensors/`,
rebuilt when a source file changes. A loader's failure becomes one line naming the file and what to do."""

import sys
from pathlib import Path

import torch

from ..errors import DataError, one_line
from ..files import atomic_path, pseudo, remove_stale_temporaries
from .loaders import Split


def _signature(root: Path) -> list:
    """Names, sizes and times of the source files (none: root is missing): the cache is rebuilt when any changes."""
    files = sorted(p for p in root.rglob("*") if ".tensors" not in p.parts and p.is_file())  # never look in the cache
    return [[str(p.relative_to(root)), p.stat().st_size, int(p.stat().st_mtime)] for p in files]


def cache_path(dataset: str, root: Path, image_size: int) -> Path:
    return root / ".tensors" / f"{dataset}-{image_size}.pt"


def load_cached(spec, root: Path, download: bool, image_size: int) -> tuple[Split, Split | None]:
    """Decode once with `spec`'s loader (its declaration), then read the tensors from `<data-dir>/.tensors/`."""
    if spec.files is None:  # nothing to cache (digits: inside scikit-learn)
        return spec.load(root, download, image_size)
    if where := pseudo(root):  # /proc/self: folders without end whose files vanish while scanned, never data
        raise DataError(f"--data-dir: {root} is under {where}, not a folder of data")
    source, cache = root / spec.files, cache_path(spec.name, root, image_size)
    signature = _signature(source)
    try:  # a damaged cache, or one this user may not read (another's .tensors/), is rebuilt from the source files
        remove_stale_temporaries(cache.parent)
        if cache.is_file() and signature:
            saved = torch.load(cache, weights_only=True)
            if saved["signature"] == signature:
                return saved["train"], saved.get("test")
    except Exception as e:  # noqa: BLE001
        print(f"warning: decoded-data cache {cache} unreadable ({type(e).__name__}): rebuilding", file=sys.stderr)
    train, test = _decode(spec, root, download, image_size)
    write_cache(cache, {"signature": _signature(source), "train": train, "test": test})
    return train, test


def _decode(spec, root: Path, download: bool, image_size: int) -> tuple[Split, Split | None]:
    """The declaration's loader, with its failures as one line (DataError)."""
    dataset, where = spec.name, spec.where.replace("{root}", str(root))
    try:
        return spec.load(root, download, image_size)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoding failure of a user's file
        message = one_line(e)
        corrupt = f"--dataset {dataset}: a file under {root} is corrupt or not in the expected format"
        if isinstance(e, FileNotFoundError) or (isinstance(e, RuntimeError) and "not found" in message.lower()):
            hint = "run with --download" if spec.download else "point --data-dir at them"
            raise DataError(
                f"--dataset {dataset}: files not found; expected {where}. Get them from {spec.source} or {hint}."
            ) from None
        if not isinstance(e, RuntimeError):
            raise DataError(f"{corrupt} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        if download and spec.download:
            raise DataError(
                f"--dataset {dataset}: could not download to {root} ({message}); no network? Copy the files to {where}."
            ) from None
        fix = "delete it and run with --download" if spec.download else f"replace it (from {spec.source})"
        raise DataError(f"{corrupt} ({message}); {fix}.") from None


def write_cache(cache: Path, content: dict) -> None:
    """Atomic (no reader sees half); a data folder that cannot be written only costs decoding again next time."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            torch.save(content, tmp)
    except OSError as e:
        print(
            f"warning: cannot write the decoded-data cache under {cache.parent} ({e.strerror or e}): decoding each run",
            file=sys.stderr,
        )
