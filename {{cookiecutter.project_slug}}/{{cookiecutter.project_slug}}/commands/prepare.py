"""`python -m {{cookiecutter.project_slug}}.prepare --dataset D --data-dir SRC --output DIR`: LitData shards.

Writes DIR/train, DIR/val and DIR/test (LitData `optimize`, a progress bar, several worker processes)
and DIR/dataset.json (see streaming.py). The split is the in-memory path's (same --seed, same
fractions), so both paths train on the same examples. An image folder is decoded file by file in the
workers and never held in memory; other datasets are loaded by their declaration in datasets.py,
then written. Everything goes to a temporary folder renamed into place at the end: an error or an
interrupt leaves nothing behind.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from ..config import flags
{%- if cookiecutter.tables %}
from ..config.checks import tables_only
{%- endif %}
from ..config.parser import OneLineParser, add_flag, normalize_argv
from ..config.types import Range, bytes_type, number_type
from ..data.cache import load_cached
from ..data.splits import {% if cookiecutter.tables %}TEST_FRACTION, {% endif %}label_frequencies, split_indices
from ..data.streaming import META, SPLITS, chunk_hashes, collate, fingerprint, require_litdata
from ..datasets import DATASETS
from ..errors import DataError, UsageError, guarded, refuse
from ..files import (
    LITDATA_TEMPORARIES,
    TargetError,
    atomic_path,
    check_apart,
    check_target,
    pseudo,
    remove_stale_temporaries,
)

# The data flags prepare shares with train.py (the split is the in-memory path's: same --seed, same fractions).
DATA_FLAGS = (
    "dataset",
    "data_dir",
    "download",
    "image_size",
{%- if cookiecutter.tables %}
    "target",
    "features",
    "task_types",
    "feature_shape",
    "test_data",
{%- endif %}
    "tasks",
    "val_fraction",
    "seed",
    "split_seed",
)
# A pack is one LitData item read whole: past this, one item outgrows any sensible shard.
MAX_PACK = 4096


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="prepare",
        allow_abbrev=False,
        description="Write a registered dataset as "
        "LitData shards with its statistics, for train.py --dataset streaming --data-dir OUTPUT.",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="Folder for the shards (new or empty).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing non-empty --output.")
    parser.add_argument(
        "--workers",
        type=number_type(int, Range(1, 1024)),
        default=min(4, os.cpu_count() or 1),
        help="Processes writing shards (default: up to 4).",
    )
    parser.add_argument(
        "--chunk-bytes",
        type=bytes_type(1000, 16 * 1000**3),
        default="64MB",
        help="Target size of one shard file (1KB to 16GB).",
    )
    parser.add_argument(
        "--pack",
        type=number_type(int, Range(1, MAX_PACK)),
        default=16,
        help="Examples per LitData item: reading one item costs "
        "about 30 µs, so packs of 16 make streaming nearly as fast as memory. The examples of a "
        "pack are drawn at random when the split is made and stay together; an epoch shuffles "
        f"the packs. 1 = one example per item (finest shuffling); at most {MAX_PACK}.",
    )
    for name in DATA_FLAGS:
        f = flags.FLAG_BY_NAME[name]
        choices = tuple(c for c in f.choices if c != "streaming") if f.choices else None
        add_flag(parser, f, default=False if f.is_bool else f.default, choices=choices)
    return parser


# ----------------------------------------------------------------------------- writers (run in worker processes)


class TensorWriter:
    """Pack k of a split held in memory: examples k·P … k·P+P-1 of the split (P = --pack), as one LitData
    item {"x": [p, C, H, W], "y": [p, T], "id": [p]} (the ids number the split's examples from 0)."""

    pack = 1

    def __init__(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor):
        self.x, self.y, self.index = x, y, index

    def positions(self, k: int) -> torch.Tensor:
        return torch.arange(k * self.pack, min((k + 1) * self.pack, len(self.index)))

    def __call__(self, k: int) -> dict:
        ids = self.positions(k)
        j = self.index[ids]
        return {"x": self.x[j].contiguous(), "y": self.y[j].contiguous(), "id": ids}


class FileWriter(TensorWriter):
    """Pack k of an image folder, decoded and resized in the worker (the folder is never in memory)."""

    def __init__(self, paths: list[str], y: torch.Tensor, index: torch.Tensor, image_size: int):
        self.paths, self.y, self.index, self.image_size = paths, y, index, image_size

    def __call__(self, k: int) -> dict:
        from torchvision.transforms import v2

        from ..data.loaders import _rgb

        ids = self.positions(k)
        j = self.index[ids]
        resize = v2.Compose([v2.PILToTensor(), v2.Resize((self.image_size, self.image_size), antialias=True)])
        x = torch.stack([resize(_rgb(self.paths[int(i)])) for i in j])
        return {"x": x.contiguous(), "y": self.y[j].contiguous(), "id": ids}


# ----------------------------------------------------------------------------- sources


def _folder_samples(root: Path) -> tuple[list[str], list[int], list[str], list[str] | None, list[int] | None]:
    from torchvision.datasets.folder import make_dataset

    from ..data.loaders import regular_image

    if not root.is_dir() or pseudo(root):  # files.pseudo: /proc/self is no folder of images
        raise DataError(f"--dataset image-folder: --data-dir {root} is not a folder of images")
    train_dir = root / "train" if (root / "train").is_dir() else root
    test_dir = root / "test" if (root / "test").is_dir() else None
    classes = sorted(
        e.name for e in os.scandir(train_dir) if e.is_dir() and not e.name.startswith(".") and e.name != "test"
    )
    if len(classes) < 2:
        raise DataError(f"--dataset image-folder: {train_dir} needs at least 2 class folders, found {len(classes)}")
    index = {c: i for i, c in enumerate(classes)}
    samples = make_dataset(str(train_dir), index, is_valid_file=regular_image, allow_empty=True)
    if not samples:
        raise DataError(f"--dataset image-folder: no images in the class folders under {train_dir}")
    samples = readable(samples)
    test_paths = test_labels = None
    if test_dir is not None:
        unknown = sorted(
            e.name for e in os.scandir(test_dir) if e.is_dir() and e.name not in index and not e.name.startswith(".")
        )
        if unknown:
            raise DataError(f"--dataset image-folder: test/{unknown[0]} is not a class of the training folders")
        test = make_dataset(
            str(test_dir),
            {c: i for c, i in index.items() if (test_dir / c).is_dir()},
            is_valid_file=regular_image,
            allow_empty=True,
        )
        test_paths, test_labels = [p for p, _ in readable(test)], [c for _, c in readable(test)]
    return [p for p, _ in samples], [c for _, c in samples], classes, test_paths, test_labels


def readable(samples: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (path, class) pairs whose file PIL can open and verify (a header and checksum read, no
    decoding), in the main process: an undecodable file inside a LitData worker is a traceback after a
    long wait. Those skipped are counted on one line."""
    from PIL import Image

    good, bad = [], []
    for path, c in samples:
        try:
            with Image.open(path) as img:
                img.verify()
            good.append((path, c))
        except Exception:  # noqa: BLE001 - PIL raises many kinds for a file that is not an image
            bad.append(path)
    if bad:
        print(f"prepare: skipped {len(bad)} files that are not readable images (first: {bad[0]})", file=sys.stderr)
    return good


def _label_columns(spec, label: torch.Tensor, classes: int) -> tuple[torch.Tensor, list[dict], list[list[str]]]:
    tasks = [(t.name, t.num_classes or classes, t.from_label) for t in spec.tasks]
    y = torch.stack([fn(label) for _, _, fn in tasks], dim=1).long()
    return y, [{"name": n, "num_classes": c} for n, c, _ in tasks], [[str(k) for k in range(c)] for _, c, _ in tasks]


def gather(a: argparse.Namespace) -> dict:
    """The splits as writers over indices, plus what dataset.json records about the data."""
    spec = DATASETS[a.dataset]
{%- if cookiecutter.tables %}
    if spec.kind == "table":
        return gather_table(a)
{%- endif %}
    if a.dataset == "image-folder":
        return gather_folder(a, spec)
    return gather_memory(a, spec)
{%- if cookiecutter.tables %}


def gather_table(a: argparse.Namespace) -> dict:
    """A table (a CSV file or an embedded one) read, checked and split as training reads it
    (data/tables.TableDataModule): the same rows in each split, the same kinds and target statistics."""
    from ..config.views import view
    from ..data.build import DataOptions
    from ..data.tables import TableDataModule
    from ..datasets import default_tasks

    spec = DATASETS[a.dataset]
    targets = a.tasks or default_tasks(a.dataset, a.target)
    if not targets:
        raise DataError("--dataset csv needs --target COLUMN (the column to predict)")
    # The loader flags are train.py's business: prepare only reads the table and splits it.
    off = dict.fromkeys(("seq_shift", "seq_scale", "seq_jitter"), 0.0)  # augmentation is train.py's
    options = view(DataOptions, a, tasks=list(targets), batch_size=1, num_workers=0, pin_memory=False, **off)
    dm = TableDataModule(spec, options, test_fraction=TEST_FRACTION)
    dm.setup("fit")
    sets = (dm.train_set, dm.val_set, dm.test_set)
    x, y = torch.cat([d.x for d in sets]), torch.cat([d.y for d in sets])
    ends = torch.tensor([0, *(len(d) for d in sets)]).cumsum(0).tolist()
    parts = [torch.arange(ends[i], ends[i + 1]) for i in range(3)]
    writers = {s: TensorWriter(x, y, p) for s, p in zip(SPLITS, parts)}
    tasks = [{"name": t.name, "num_classes": t.num_classes, "kind": t.kind} for t in dm.tasks]
    return {
        "kind": "table",
        "writers": writers,
        "y": y,
        "train": parts[0],
        "tasks": tasks,
        "class_names": dm.class_names,
        "input_shape": list(x.shape[1:]),
        "features": dm.feature_names,
        "label_frequencies": dm.label_frequencies(),
        "target_mean": dm.target_mean,
        "target_std": dm.target_std,
    }
{%- endif %}


def gather_folder(a: argparse.Namespace, spec) -> dict:
    root = Path(a.data_dir)
    paths, labels, classes, test_paths, test_labels = _folder_samples(root)
    label = torch.tensor(labels)
    y, tasks, names = _label_columns(spec, label, len(classes))
    names[0] = classes  # the class task: the folder names
    train, val, test = split_indices(len(paths), test_paths is not None, a.val_fraction, a.split_seed)
    writers = {"train": FileWriter(paths, y, train, a.image_size), "val": FileWriter(paths, y, val, a.image_size)}
    if test_paths is None:
        writers["test"] = FileWriter(paths, y, test, a.image_size)
    else:
        test_y, _, _ = _label_columns(spec, torch.tensor(test_labels), len(classes))
        writers["test"] = FileWriter(test_paths, test_y, torch.arange(len(test_paths)), a.image_size)
    return {
        "kind": "images",
        "writers": writers,
        "y": y,
        "train": train,
        "tasks": tasks,
        "class_names": names,
        "input_shape": [3, a.image_size, a.image_size],
    }


def gather_memory(a: argparse.Namespace, spec) -> dict:
    (x, label), test_split = load_cached(spec, Path(a.data_dir), a.download, a.image_size)
    classes = int(label.max()) + 1
    y, tasks, names = _label_columns(spec, label, classes)
    train, val, test = split_indices(len(x), test_split is not None, a.val_fraction, a.split_seed)
    writers = {"train": TensorWriter(x, y, train), "val": TensorWriter(x, y, val)}
    if test_split is None:
        writers["test"] = TensorWriter(x, y, test)
    else:
        test_y, _, _ = _label_columns(spec, test_split[1], classes)
        writers["test"] = TensorWriter(test_split[0], test_y, torch.arange(len(test_split[1])))
    return {
        "kind": "images",
        "writers": writers,
        "y": y,
        "train": train,
        "tasks": tasks,
        "class_names": names,
        "input_shape": list(x.shape[1:]),
    }


# ----------------------------------------------------------------------------- writing


def statistics(train_dir: Path, kind: str) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training split, read back from its shards in one pass."""
    from litdata import StreamingDataLoader, StreamingDataset

    sums = squares = None
    count = 0
    for x, _, _ in StreamingDataLoader(StreamingDataset(str(train_dir)), batch_size=32, collate_fn=collate):
        x = x.double()
        dims = (0, *range(2, x.dim()))  # an image [B, C, H, W] or a sequence [B, C, L]: per channel
        s, q = x.sum(dim=dims), x.pow(2).sum(dim=dims)
        sums, squares = (s, q) if sums is None else (sums + s, squares + q)
        count += x.numel() // x.shape[1]
    mean = sums / count
    std = (squares / count - mean**2).clamp_min(0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std)) if kind == "table" else std.clamp_min(1e-6)
    return mean.tolist(), std.tolist()


def write(a: argparse.Namespace, out: Path) -> dict:
    data = gather(a)
    for split, writer in data["writers"].items():
        if len(writer.index) == 0:
            raise DataError(f"--dataset {a.dataset}: the {split} split would be empty; more data or other fractions")
    with atomic_path(out) as tmp:  # a folder: an error or an interrupt leaves nothing behind
        splits = {split: write_split(a, writer, tmp / split) for split, writer in data["writers"].items()}
        mean, std = statistics(tmp / "train", data["kind"])
        y = data["y"][data["train"]]
        meta = {
            "format": 1,
            "kind": data["kind"],
            "pack": a.pack,
            "source": {k: getattr(a, k) for k in DATA_FLAGS if k != "download"},
            "tasks": data["tasks"],
            "class_names": data["class_names"],
            "input_shape": data["input_shape"],
            "mean": mean,
            "std": std,
            "label_frequencies": data.get("label_frequencies")
            or label_frequencies(y, [t["num_classes"] for t in data["tasks"]]),
            "target_mean": data.get("target_mean"),  # tables: the regression targets' training statistics
            "target_std": data.get("target_std"),
            "splits": splits,
            "features": data.get("features"),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists() and not out.is_dir():
            out.unlink()
    return meta


def write_split(a: argparse.Namespace, writer, folder: Path) -> dict:
    """One split as LitData shards in `folder`; what dataset.json records of it."""
    from litdata import optimize

    print(f"prepare: writing {folder.name} ({len(writer.index)} examples)", file=sys.stderr)
    writer.pack = a.pack
    packs = -(-len(writer.index) // a.pack)
    optimize(
        fn=writer,
        inputs=list(range(packs)),
        output_dir=str(folder),
        chunk_bytes=a.chunk_bytes,
        num_workers=max(1, min(a.workers, packs)),
        start_method="fork",
    )
    return {
        "count": len(writer.index),
        "packs": packs,
        "fingerprint": fingerprint((folder / "index.json").read_bytes()),
        "chunks": chunk_hashes(folder),  # training checks them: a bit flipped in a shard is one line
    }


@guarded("prepare")
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(normalize_argv(list(sys.argv[1:] if argv is None else argv)))
{%- if cookiecutter.tables %}
    tables_only(parser, a)  # --target, --test-data, … for a table only, as train.py says
{%- endif %}
    out = Path(a.output)
    if "://" in a.output:
        parser.error(
            f"argument --output: a local folder, got {a.output} (copy it to object storage afterwards, "
            "e.g. `aws s3 sync`)"
        )
    try:  # before anything is read or written: replacing an input would delete the user's data
        check_target(out, a.overwrite, folder=True)
        # An image folder is scanned: shards inside it would be read back; a dataset root only holds caches.
        check_apart(out, [a.data_dir] if a.data_dir else [], inside=a.dataset == "image-folder")
    except TargetError as e:
        parser.error(f"argument --output: {e}")
    if a.workers < 1:
        parser.error(f"argument --workers: must be >= 1, got {a.workers}")
    remove_stale_temporaries(out.resolve().parent)  # the folder of a prepare killed while writing
    remove_stale_temporaries(Path(tempfile.gettempdir()), LITDATA_TEMPORARIES)  # and LitData's work list
    try:
        require_litdata("prepare")
        meta = write(a, out)
    except UsageError as e:
        return refuse("prepare", e)
    except KeyboardInterrupt:
        parser.exit(130, "prepare: interrupted; nothing written\n")
    counts = ", ".join(f"{s} {meta['splits'][s]['count']}" for s in SPLITS)
    print(f"wrote {out} ({counts}); train with: python train.py --dataset streaming --data-dir {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
