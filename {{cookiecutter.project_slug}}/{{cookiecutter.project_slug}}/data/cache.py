"""The decoded-data cache: a dataset's files are decoded once into uint8 tensors and kept under
`<data-dir>/.tensors/`, rebuilt when a source file changes. A loader's failure becomes one line
naming the file and what to do."""

import sys
from pathlib import Path

import torch

from ..errors import DataError, one_line
from ..files import atomic_path, remove_stale_temporaries
from .loaders import Split


def _signature(root: Path) -> list:
    """Names, sizes and times of the source files: the cache is rebuilt when any changes."""
    if not root.exists():
        return []
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".tensors" not in p.parts)
    return [[str(p.relative_to(root)), p.stat().st_size, int(p.stat().st_mtime)] for p in files]


def cache_path(dataset: str, root: Path, image_size: int) -> Path:
    return root / ".tensors" / f"{dataset}-{image_size}.pt"


def load_cached(spec, root: Path, download: bool, image_size: int) -> tuple[Split, Split | None]:
    """Decode once, then read the decoded tensors from `<data-dir>/.tensors/`. `spec`: the dataset's
    declaration (datasets.py), which names its loader and its files."""
    dataset = spec.name
    source = spec.folder(root)  # the declaration says where its files are
    if source is None:  # nothing to cache (digits: inside scikit-learn)
        return spec.load(root, download, image_size)
    cache = cache_path(dataset, root, image_size)
    signature = _signature(source)
    remove_stale_temporaries(cache.parent)
    if cache.is_file() and signature:
        try:
            saved = torch.load(cache, weights_only=True)
            if saved["signature"] == signature:
                return saved["train"], saved.get("test")
        except Exception as e:  # noqa: BLE001 - a damaged cache is rebuilt from the source files
            print(
                f"warning: the decoded-data cache {cache} is unreadable ({type(e).__name__}); rebuilding it",
                file=sys.stderr,
            )
    train, test = _decode(spec, dataset, root, download, image_size)
    write_cache(cache, {"signature": _signature(source), "train": train, "test": test})
    return train, test


def _decode(spec, dataset: str, root: Path, download: bool, image_size: int) -> tuple[Split, Split | None]:
    """The declaration's loader, with its failures as one line (DataError)."""
    try:
        return spec.load(root, download, image_size)
    except DataError:
        raise
    except (FileNotFoundError, RuntimeError) as e:
        message = one_line(e)
        if "not found" in message.lower() or isinstance(e, FileNotFoundError):
            hint = "point --data-dir at it" if dataset == "image-folder" else "run with --download"
            raise DataError(
                f"--dataset {dataset}: files not found; expected {spec.where_in(root)}. "
                f"Get them from {spec.source} or {hint}."
            ) from None
        if download:
            raise DataError(
                f"--dataset {dataset}: could not download to {root} ({message}); no network? Copy the "
                f"files to {spec.where_in(root)} instead."
            ) from None
        raise DataError(
            f"--dataset {dataset}: a file under {root} is corrupt or not in the expected format "
            f"({message}); delete it and run with --download."
        ) from None
    except Exception as e:  # noqa: BLE001 - any decoding failure of a user's file
        raise DataError(
            f"--dataset {dataset}: a file under {root} is corrupt or not in the expected format "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None


def write_cache(cache: Path, content: dict) -> None:
    """Written atomically, so other processes never read half a file. A data folder that cannot be
    written (read-only, a shared mount) only costs decoding again next time."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            torch.save(content, tmp)
    except OSError as e:
        print(
            f"warning: cannot write the decoded-data cache under {cache.parent} ({e.strerror or e}); "
            "the files are decoded again on every run",
            file=sys.stderr,
        )
