"""The in-memory DataModule, base of the other kinds' (tasks, mean, std, input_shape, class_names, label_frequencies,
train_set): files decoded once (cache.py) into uint8 tensors, served as whole minibatches by tensor indexing, in [0, 1]
(the network standardizes them, so augmentation and adversarial examples work on real pixels)."""

import os
import time
from dataclasses import replace
from functools import cached_property
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .augment import AugmentOptions
from .build import DataOptions
from .cache import cache_path, load_cached
from .splits import TEST_FRACTION, channel_statistics, label_frequencies, split_indices


def is_local_rank_zero() -> bool:
    return os.environ.get("LOCAL_RANK", "0") == "0"


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


class InMemoryDataModule(L.LightningDataModule):
    """A declaration's data (`spec`, datasets.py) as the data flags `o` ask; the --aug-* flags `augment` at setup."""

    def __init__(self, spec, o: DataOptions, augment: AugmentOptions | None = None, test_fraction=TEST_FRACTION):
        super().__init__()
        self.spec, self.dataset, self.root, self.tasks = spec, spec.name, Path(o.data_dir), spec.tasks_named(o.tasks)
        self.batch_size, self.num_workers, self.pin_memory = o.batch_size, o.num_workers, o.pin_memory
        self.val_fraction, self.test_fraction, self.seed = o.val_fraction, test_fraction, o.seed
        self.download, self.image_size, self.augment_options, self.augment = o.download, o.image_size, augment, None
        self.train_set, self.val_set, self.test_set, self.split_seed = None, None, None, o.split_seed  # split: its seed

    def prepare_data(self) -> None:
        """Download and decode once per node (local rank 0); the other local ranks wait for the cache."""
        if self.train_set is None and is_local_rank_zero():
            load_cached(self.spec, self.root, self.download, self.image_size)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if not is_local_rank_zero():  # wait for local rank 0's cache
            deadline, cache = time.monotonic() + 1800, cache_path(self.dataset, self.root, self.image_size)
            while self.spec.files is not None and not cache.is_file() and time.monotonic() < deadline:
                time.sleep(2)
        (x, label), test = load_cached(self.spec, self.root, False, self.image_size)
        train, val, held_out = split_indices(len(x), bool(test), self.val_fraction, self.split_seed, self.test_fraction)
        test = test or (x[held_out], label[held_out])  # no official test split: a seeded share is held out
        classes = int(max(label.max(), test[1].max())) + 1  # for tasks of num_classes 0 (image folders)
        self.tasks = tuple(replace(t, num_classes=classes) if t.num_classes == 0 else t for t in self.tasks)
        self.train_set = TensorBatches(x[train], self._labels(label[train]))
        self.val_set = TensorBatches(x[val], self._labels(label[val]))
        self.test_set = TensorBatches(test[0], self._labels(test[1]))
        self.mean, self.std = channel_statistics(self.train_set.x)  # of the training split only
        if self.augment_options is not None:
            self.augment = self.augment_options.create(self.input_shape[1:])

    def _labels(self, label: torch.Tensor) -> torch.Tensor:
        return torch.stack([t.from_label(label) for t in self.tasks], dim=1)  # [N, T]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_set.x.shape[1:])

    @cached_property
    def class_names(self) -> list[list[str]]:
        """Per task, the name of each class (what a prediction reports); a subclass may assign its own."""
        if self.dataset == "image-folder":  # the class folders, sorted as ImageFolder numbers them
            root = self.root / "train" if (self.root / "train").is_dir() else self.root
            labels = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        else:
            labels = self.spec.classes or [str(i) for i in range(max(t.num_classes for t in self.tasks))]
        return [list(t.labels or labels) for t in self.tasks]  # a task's own labels, else the dataset's

    def label_frequencies(self) -> list[list[float]]:
        """Per task, the class frequencies of the training split (for the output-bias prior)."""
        return label_frequencies(self.train_set.y, [t.num_classes for t in self.tasks])

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Training batches only, each image with its own random draw: in the DataLoader workers when
        # there are some (in parallel with training), else here on the device (a GPU when used).
        if self.augment is None or self.num_workers > 0 or self.trainer is None or not self.trainer.training:
            return batch
        return self.augment(batch[0]), batch[1]

    def _loader(self, data: TensorBatches, shuffle: bool) -> DataLoader:
        last = shuffle and len(data) % self.batch_size == 1  # batch norm cannot train on 1 example: dropped
        kw = dict(num_workers=self.num_workers, persistent_workers=self.num_workers > 0, pin_memory=self.pin_memory)
        # Keywords only: Lightning rebuilds the loader under DDP from them. collate_fn: __getitems__ stacked the batch.
        return DataLoader(data, batch_size=self.batch_size, shuffle=shuffle, drop_last=last, collate_fn=tuple, **kw)

    def train_dataloader(self) -> DataLoader:
        self.train_set.augment = self.augment if self.num_workers > 0 else None
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


ImageDataModule = InMemoryDataModule  # the name before the layout by concern (notebooks may use it)
