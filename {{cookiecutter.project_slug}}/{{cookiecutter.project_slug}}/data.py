"""Data: a LightningDataModule over image datasets held in memory as tensors.

A dataset is declared once in DATASETS (how to load it, its tasks); the DataModule splits,
normalizes with training statistics and serves whole minibatches by tensor indexing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class Task:
    """One prediction target derived from the dataset's class label."""

    name: str
    num_classes: int  # 2 means a binary head: one logit, σ(b) = p
    from_label: Callable[[torch.Tensor], torch.Tensor]


def _identity(y: torch.Tensor) -> torch.Tensor:
    return y


def _parity(y: torch.Tensor) -> torch.Tensor:
    return y % 2


def _is_zero(y: torch.Tensor) -> torch.Tensor:
    return (y == 0).long()


@dataclass(frozen=True)
class DatasetSpec:
    """Loads (images [N, C, H, W] float, labels [N] long) and declares the tasks on them."""

    load: Callable[[str, bool], tuple[torch.Tensor, torch.Tensor]]
    tasks: tuple[Task, ...]


def load_digits(data_dir: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    # scikit-learn ships these 1,797 8×8 images (pixel values 0..16) inside the package.
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)  # [N, 1, 8, 8]
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    return x, y


DIGIT_TASKS = (Task("digit", 10, _identity), Task("parity", 2, _parity), Task("zero", 2, _is_zero))

DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(load_digits, DIGIT_TASKS),
}


class TensorBatches(Dataset):
    """Whole minibatches by one index operation (`__getitems__`), not one sample at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y  # x: [N, C, H, W], y: [N, T] (one column per task)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]

    def __getitems__(self, indices: list[int]):
        idx = torch.as_tensor(indices)
        return self.x[idx], self.y[idx]


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
        pin_memory: bool = False,
    ):
        super().__init__()
        spec = DATASETS[dataset]
        by_name = {t.name: t for t in spec.tasks}
        unknown = [t for t in tasks if t not in by_name]
        if unknown:
            raise ValueError(f"dataset {dataset} has no task {unknown[0]!r} (choose from {', '.join(by_name)})")
        self.spec = spec
        self.tasks = tuple(by_name[t] for t in tasks)
        self.dataset, self.data_dir, self.download = dataset, data_dir, download
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self.train_set = self.val_set = self.test_set = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        x, label = self.spec.load(self.data_dir, self.download)
        y = torch.stack([t.from_label(label) for t in self.tasks], dim=1)  # [N, T]
        # The split depends on --seed only, so every run with the same seed sees the same split.
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
        n_test = int(round(self.test_fraction * len(x)))
        n_val = int(round(self.val_fraction * (len(x) - n_test)))
        test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
        # Normalize features to zero mean, unit variance with training statistics only.
        self.mean = x[train].mean(dim=(0, 2, 3), keepdim=True)
        self.std = x[train].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
        x = (x - self.mean) / self.std
        self.train_set = TensorBatches(x[train], y[train])
        self.val_set = TensorBatches(x[val], y[val])
        self.test_set = TensorBatches(x[test], y[test])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_set.x.shape[1:])

    def label_frequencies(self) -> list[list[float]]:
        """Per task, the class frequencies of the training split (for the output-bias prior)."""
        freqs = []
        for t, task in enumerate(self.tasks):
            counts = torch.bincount(self.train_set.y[:, t], minlength=task.num_classes).double()
            freqs.append((counts / counts.sum()).tolist())
        return freqs

    def _loader(self, data: TensorBatches, shuffle: bool) -> DataLoader:
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            collate_fn=_as_batch,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
