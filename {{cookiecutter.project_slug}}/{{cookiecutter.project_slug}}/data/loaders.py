"""The loaders of the built-in datasets (datasets.py declares them): each decodes its files into
tensors, names a damaged file, and raises DataError with one line for the user."""

import math
import os
import pickle
import socket
from pathlib import Path

import torch

from ..errors import DataError

Split = tuple[torch.Tensor, torch.Tensor]  # images [N, C, H, W] (uint8, or float in [0, 1]), labels [N]


def load_digits(root: Path, download: bool, image_size: int) -> tuple[Split, None]:
    """scikit-learn's 1,797 8×8 images (pixel values 0..16), shipped inside the package."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [N, 1, 8, 8] in [0, 1]
    return (x, torch.as_tensor(bunch.target, dtype=torch.long)), None
{%- if cookiecutter.tables %}


# --dataset NAME → (scikit-learn's loader, the target column's name); the tables ship inside scikit-learn.
SKLEARN_TABLES = {
    "breast-cancer": ("load_breast_cancer", "diagnosis"),
    "wine": ("load_wine", "cultivar"),
    "diabetes": ("load_diabetes", "progression"),
}


def load_sklearn_table(name: str) -> dict:
    """An embedded table as {column: NumPy array}: the features under their real names, then the target
    (class names as text for a classification table; diabetes: the disease progression one year after
    baseline, unscaled, with the features in their original units)."""
    import numpy as np
    import sklearn.datasets

    loader, target = SKLEARN_TABLES[name]
    bunch = getattr(sklearn.datasets, loader)(**({"scaled": False} if name == "diabetes" else {}))
    columns = {str(f): np.asarray(bunch.data[:, j], dtype=np.float64) for j, f in enumerate(bunch.feature_names)}
    if "target_names" in bunch:
        columns[target] = np.asarray(bunch.target_names)[bunch.target].astype(str)
    else:
        columns[target] = np.asarray(bunch.target, dtype=np.float64)
    return columns
{%- endif %}


def _torchvision_split(cls, root: Path, train: bool, download: bool) -> Split:
    if download:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)  # torchvision downloads with urllib: a dead network must not hang the run
        try:
            cls(str(root), train=train, download=True)
        finally:
            socket.setdefaulttimeout(previous)
    check_files(cls, root, train)
    try:
        ds = cls(str(root), train=train, download=False)
    except Exception as e:  # noqa: BLE001 - torchvision's decoders raise anything on a damaged file
        if (culprit := _first_unreadable(cls, root, train)) is None:
            raise
        raise DataError(
            f"{culprit} is corrupt or not in the expected format ({type(e).__name__}); delete it, run with --download"
        ) from None
    x = torch.as_tensor(ds.data)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # → [N, C, H, W] uint8
    y = torch.as_tensor(ds.targets, dtype=torch.long)
    split = f"{cls.__name__} {'train' if train else 'test'} split under {root}"
    if len(x) != len(y):
        raise DataError(f"{split}: {len(x)} images but {len(y)} labels; the image and label files do not match")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= 10):
        raise DataError(f"{split}: labels must be 0-9, found {int(y.min())}..{int(y.max())}")
    return x.contiguous(), y


def check_files(cls, root: Path, train: bool) -> None:
    """Name a damaged MNIST-format idx file (magic number, header size): torchvision's reader says not which."""
    if not hasattr(cls, "resources") or not hasattr(cls, "raw_folder"):
        return
    for kind, dims, magic in (("images-idx3-ubyte", 3, 2051), ("labels-idx1-ubyte", 1, 2049)):
        path = Path(root) / cls.__name__ / "raw" / f"{'train' if train else 't10k'}-{kind}"
        if not path.is_file():
            continue  # missing files: torchvision's own message, turned into "files not found"
        data = path.read_bytes()
        if len(data) < 4 + 4 * dims or int.from_bytes(data[:4], "big") != magic:
            raise DataError(f"{path} is not an idx{dims} file (wrong magic number); delete it and run with --download")
        shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
        expected = 4 + 4 * dims + math.prod(shape)
        if len(data) != expected:
            raise DataError(
                f"{path} is truncated or padded: its header announces {shape} ({expected} bytes), the "
                f"file has {len(data)} bytes; delete it and run with --download"
            )


def _first_unreadable(cls, root: Path, train: bool) -> Path | None:
    """The CIFAR batch file that does not unpickle (called only after loading failed)."""
    folder = Path(root) / getattr(cls, "base_folder", "")
    for name, _ in (cls.train_list if train else cls.test_list) if hasattr(cls, "train_list") else []:
        if not (folder / name).is_file():
            return None  # missing, not corrupt: "files not found" says where they go
        try:
            with open(folder / name, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            if "data" not in entry or ("labels" not in entry and "fine_labels" not in entry):
                return folder / name
        except Exception:  # noqa: BLE001 - any failure to read is what we are looking for
            return folder / name
    return None


def load_torchvision(name: str, root: Path, download: bool, image_size: int) -> tuple[Split, Split]:
    from torchvision import datasets

    class CIFAR10(datasets.CIFAR10):
        # Existence, not md5, of the extracted batches: the archive's md5 is checked when downloaded,
        # and a damaged batch still fails to unpickle (one clear error).
        train_list = [[f, None] for f, _ in datasets.CIFAR10.train_list]
        test_list = [[f, None] for f, _ in datasets.CIFAR10.test_list]
        meta = {**datasets.CIFAR10.meta, "md5": None}

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": CIFAR10}[name]
    return _torchvision_split(cls, root, True, download), _torchvision_split(cls, root, False, download)
{%- if cookiecutter.inference %}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")  # what predict reads
{%- endif %}


def regular_image(path: str) -> bool:
    """ImageFolder's test (its image suffixes) on regular files only: a pipe named x.png would block forever."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return path.lower().endswith(IMG_EXTENSIONS) and os.path.isfile(path)


def _image_folder_split(folder: Path, image_size: int, classes: list[str] | None = None) -> tuple[Split, list[str]]:
    """Decode `folder/<class>/<image>`; labels index `classes` (default: its sorted visible folders): test/ by name."""
    from torchvision.datasets.folder import make_dataset
    from torchvision.transforms import v2

    found = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    names = classes or found
    if unknown := [c for c in found if c not in names]:
        raise DataError(
            f"--dataset image-folder: {folder} has class folders that the training data lacks: "
            f"{', '.join(unknown[:5])} (training classes: {', '.join(names[:10])})"
        )
    if not found:
        raise FileNotFoundError(f"no class folders in {folder}")
    # ImageFolder's scan; a class folder without images raises FileNotFoundError ("files not found").
    samples = make_dataset(str(folder), {c: names.index(c) for c in found}, is_valid_file=regular_image)
    resize = v2.Compose([v2.PILToTensor(), v2.Resize((image_size, image_size), antialias=True)])
    images = []
    for path, _ in samples:
        try:
            images.append(resize(_rgb(path)))
        except (OSError, ValueError) as e:
            raise DataError(
                f"--dataset image-folder: {path} is not a readable image ({type(e).__name__}); replace it or delete it"
            ) from None
    labels = torch.as_tensor([label for _, label in samples], dtype=torch.long)
    return (torch.stack(images), labels), names  # [N, 3, S, S] uint8


def _rgb(path):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def load_image_folder(root: Path, download: bool, image_size: int) -> tuple[Split, Split | None]:
    """`root/<class>/<image>`, or `root/train/<class>/…` with optional `root/test/<class>/…`."""
    if not root.is_dir():
        raise FileNotFoundError(root)
    train_dir = root / "train" if (root / "train").is_dir() else root
    test_dir = root / "test" if (root / "test").is_dir() else None
    train, classes = _image_folder_split(train_dir, image_size)
    if len(classes) < 2:
        raise DataError(
            f"--dataset image-folder: {train_dir} has {len(classes)} class folder"
            f"{'s' if len(classes) != 1 else ''} ({', '.join(classes)}); a classifier needs at least 2"
        )
    return train, _image_folder_split(test_dir, image_size, classes)[0] if test_dir else None
