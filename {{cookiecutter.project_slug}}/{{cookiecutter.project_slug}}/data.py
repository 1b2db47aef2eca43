"""Data: a LightningDataModule over image datasets held in memory as tensors.

A dataset is declared once in datasets.py (its loader, its tasks, where its files go); the loaders of
the built-in ones are here. Files are decoded once into uint8 tensors, cached in the data directory, and
served as whole minibatches by tensor indexing: no per-sample PIL round trip. Images reach the
network in their valid range [0, 1]; the network standardizes them with the training split's
statistics (its first step), so augmentation and adversarial examples work on real pixels.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .datasets import DATASETS, tasks_for
from .loaders import DataError, Split  # noqa: F401 - DataError: the rest of the project imports it from here
from .tasks import class_names

# ----------------------------------------------------------------------------- cache


def _signature(root: Path) -> list:
    """Names, sizes and times of the source files: the cache is rebuilt when any changes."""
    if not root.exists():
        return []
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".tensors" not in p.parts)
    return [[str(p.relative_to(root)), p.stat().st_size, int(p.stat().st_mtime)] for p in files]


def cache_path(dataset: str, root: Path, image_size: int) -> Path:
    return root / ".tensors" / f"{dataset}-{image_size}.pt"


def load_cached(dataset: str, root: Path, download: bool, image_size: int) -> tuple[Split, Split | None]:
    """Decode once, then read the decoded tensors from `<data-dir>/.tensors/`."""
    spec = DATASETS[dataset]
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
    try:
        train, test = spec.load(root, download, image_size)
    except DataError:
        raise
    except (FileNotFoundError, RuntimeError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
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
    write_cache(cache, {"signature": _signature(source), "train": train, "test": test})
    return train, test


def write_cache(cache: Path, content: dict) -> None:
    """Write-then-rename, so other processes never read half a file. A data folder that cannot be
    written (read-only, a shared mount) only costs decoding again next time."""
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(content, tmp)
        tmp.replace(cache)
    except OSError as e:
        tmp.unlink(missing_ok=True) if tmp.parent.is_dir() else None
        print(
            f"warning: cannot write the decoded-data cache under {cache.parent} ({e.strerror or e}); "
            "the files are decoded again on every run",
            file=sys.stderr,
        )


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary cache files of processes that no longer exist (killed while writing)."""
    if not folder.is_dir():
        return
    for tmp in folder.glob("*.tmp"):
        pid = tmp.suffixes[-2][1:] if len(tmp.suffixes) >= 2 else ""
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------- datamodule


class TensorBatches(Dataset):
    """Whole minibatches by one index operation (`__getitems__`), not one sample at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y  # x: [N, C, H, W] uint8 or float in [0, 1]; y: [N, T] (one column per task)
        self.augment = None  # set on the training split when DataLoader workers augment

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.batch([i])

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """(images [B, C, H, W] float in [0, 1], labels [B, T]) for a list or tensor of indices."""
        idx = torch.as_tensor(indices)
        x = self.x[idx]
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        return (x if self.augment is None else self.augment(x)), self.y[idx]

    __getitems__ = batch  # the DataLoader fetches a whole minibatch with one call


def _as_batch(batch):
    # __getitems__ already returns the stacked batch (a module-level function: workers pickle it).
    return batch


class ImageDataModule(L.LightningDataModule):
    def __init__(
        self,
        dataset: str = "digits",
        data_dir: str = "data",
        tasks: tuple[str, ...] = ("digit",),
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        download: bool = False,
        image_size: int = 32,
        pin_memory: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.spec = DATASETS[dataset]
        self.tasks = tasks_for(dataset, list(tasks))
        self.dataset, self.root, self.download, self.image_size = dataset, Path(data_dir), download, image_size
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self.augment = augment  # batch [B, C, H, W] → batch, applied to training batches only
        self.train_set = self.val_set = self.test_set = None

    def prepare_data(self) -> None:
        """Download and decode once per node (local rank 0); the other local ranks wait for the cache."""
        if self.train_set is None and os.environ.get("LOCAL_RANK", "0") == "0":
            load_cached(self.dataset, self.root, self.download, self.image_size)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        (x, label), test = self._wait_for_data()
        gen = torch.Generator().manual_seed(self.seed)
        if test is None:  # no official test split: hold one out (fixed by --seed)
            order = torch.randperm(len(x), generator=gen)
            n_test = int(round(self.test_fraction * len(x)))
            test = (x[order[:n_test]], label[order[:n_test]])
            x, label = x[order[n_test:]], label[order[n_test:]]
        order = torch.randperm(len(x), generator=gen)
        n_val = int(round(self.val_fraction * len(x)))
        val, train = order[:n_val], order[n_val:]
        # Tasks with num_classes 0 take the dataset's own class count (image folders).
        classes = int(max(label.max(), test[1].max())) + 1
        self.tasks = tuple(replace(t, num_classes=classes) if t.num_classes == 0 else t for t in self.tasks)
        self.train_set = TensorBatches(x[train], self._labels(label[train]))
        self.val_set = TensorBatches(x[val], self._labels(label[val]))
        self.test_set = TensorBatches(test[0], self._labels(test[1]))
        # Per-channel statistics of the training split only (in chunks: uint8 → float is 4× the memory).
        sums = torch.zeros(x.shape[1], dtype=torch.float64)
        squares = torch.zeros_like(sums)
        for chunk in self.train_set.x.split(4096):
            chunk = chunk.double() / 255 if chunk.dtype == torch.uint8 else chunk.double()
            sums += chunk.sum(dim=(0, 2, 3))
            squares += chunk.pow(2).sum(dim=(0, 2, 3))
        n = len(self.train_set) * x.shape[2] * x.shape[3]
        mean = sums / n
        self.mean = mean.tolist()
        self.std = (squares / n - mean**2).clamp_min(1e-12).sqrt().tolist()

    def _wait_for_data(self) -> tuple[Split, Split | None]:
        if os.environ.get("LOCAL_RANK", "0") != "0":
            deadline = time.monotonic() + 1800
            cache = cache_path(self.dataset, self.root, self.image_size)
            while self.spec.files is not None and not cache.is_file() and time.monotonic() < deadline:
                time.sleep(2)
        return load_cached(self.dataset, self.root, False, self.image_size)

    def _labels(self, label: torch.Tensor) -> torch.Tensor:
        return torch.stack([t.from_label(label) for t in self.tasks], dim=1)  # [N, T]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_set.x.shape[1:])

    @property
    def class_names(self) -> list[list[str]]:
        """Per task, the name of each class (what predict.py writes); tables and shards set their own."""
        if getattr(self, "_class_names", None) is not None:
            return self._class_names
        if self.dataset == "image-folder":  # the class folders, sorted as ImageFolder numbers them
            root = self.root / "train" if (self.root / "train").is_dir() else self.root
            labels = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        else:
            labels = self.spec.classes or [str(i) for i in range(max(t.num_classes for t in self.tasks))]
        return [class_names(t, labels) for t in self.tasks]

    @class_names.setter
    def class_names(self, names: list[list[str]]) -> None:
        self._class_names = names

    def label_frequencies(self) -> list[list[float]]:
        """Per task, the class frequencies of the training split (for the output-bias prior)."""
        freqs = []
        for t, task in enumerate(self.tasks):
            counts = torch.bincount(self.train_set.y[:, t], minlength=task.num_classes).double()
            freqs.append((counts / counts.sum()).tolist())
        return freqs

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Training batches only, each image with its own random draw: in the DataLoader workers when
        # there are some (in parallel with training), else here on the device (a GPU when used).
        if self.augment is None or self.num_workers > 0 or self.trainer is None or not self.trainer.training:
            return batch
        x, y = batch
        return self.augment(x), y

    def _loader(self, data: TensorBatches, shuffle: bool) -> DataLoader:
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=shuffle,
            # Batch norm cannot train on a minibatch of one example; drop such a last batch only.
            drop_last=shuffle and len(data) % self.batch_size == 1,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            collate_fn=_as_batch,
        )

    def train_dataloader(self) -> DataLoader:
        self.train_set.augment = self.augment if self.num_workers > 0 else None
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
