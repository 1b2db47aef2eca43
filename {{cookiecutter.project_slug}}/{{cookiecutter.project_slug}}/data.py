"""Data: a LightningDataModule over image datasets held in memory as tensors.

A dataset is declared once in DATASETS (how to load it) and tasks.py (what to predict). Images
stay in their valid range [0, 1]; the network normalizes them with the training split's mean and
standard deviation (its first layer), so augmentation and adversarial examples work on real
pixel values. Minibatches are served by tensor indexing and augmented as tensors on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .tasks import tasks_for


@dataclass(frozen=True)
class DatasetSpec:
    """Loads (images [N, C, H, W] float in [0, 1], labels [N] long)."""

    load: Callable[[str, bool], tuple[torch.Tensor, torch.Tensor]]


def load_digits(data_dir: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    # scikit-learn ships these 1,797 8×8 images (pixel values 0..16) inside the package.
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [N, 1, 8, 8] in [0, 1]
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    return x, y


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(load_digits),
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
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.spec = DATASETS[dataset]
        self.tasks = tasks_for(dataset, list(tasks))
        self.augment = augment  # image [C, H, W] → image, applied to training batches only
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
        # Per-channel statistics of the training split only; the network normalizes with them.
        self.mean = x[train].mean(dim=(0, 2, 3)).tolist()
        self.std = x[train].std(dim=(0, 2, 3)).clamp_min(1e-8).tolist()
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

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Augment on the device, training batches only, each image with its own random draw.
        if self.augment is None or self.trainer is None or not self.trainer.training:
            return batch
        x, y = batch
        return torch.stack([self.augment(img) for img in x]), y

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
