"""Tiny datasets in their real on-disk formats (random pixels, labels cycling 0…9), for the tests
and for anything else that needs a small dataset offline."""

from __future__ import annotations

import pickle
import struct

import numpy as np
from PIL import Image


def labels(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint8) % 10


def write_idx(folder, prefix: str, images: np.ndarray, targets: np.ndarray) -> None:
    """MNIST's idx format: big-endian magic 2051 (images) / 2049 (labels), sizes, then bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    n, rows, cols = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, rows, cols) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + targets.tobytes())


def make_mnist(root, folder="MNIST", n_train: int = 60, n_test: int = 20):
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    write_idx(raw, "train", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), labels(n_train))
    write_idx(raw, "t10k", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), labels(n_test))
    return raw / "train-images-idx3-ubyte"


def make_cifar(root, n_train: int = 60, n_test: int = 20):
    """CIFAR-10's python format: pickled dicts with data [N, 3072] uint8 (R, G, B planes) and labels."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    per_batch = n_train // 5
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": labels(n).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return folder / "data_batch_1"


def make_image_folder(root, classes=("cat", "dog", "owl"), per_class=10, size=(20, 14), split=None):
    rng = np.random.default_rng(0)
    base = root / split if split else root
    for c in classes:
        (base / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(base / c / f"{i}.png")
    return base / classes[0] / "0.png"
