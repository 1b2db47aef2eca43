"""Tables: `--dataset csv --data-dir FILE.csv --target COLUMN [--features a,b,c] [--test-data FILE.csv]`.

The feature columns become a float tensor [N, F, 1, 1] (one "channel" per column), so every network
reads them and the network's first step, standardization with the training split's per-channel mean
and std, standardizes each column (the checklist: zero mean, unit variance). With `--input-shape C,L`
the columns, in order, are a sequence [N, C, L] (channel-major: column c·L + t is channel c at step t),
standardized per channel over the training split's steps, which cnn/resnet convolve in 1-D and rnn reads
step by step (`C,H,W`: an image). Sequences have their own augmentation (SequenceAugment). Each target column (the
`--target`, or the `--tasks` columns: multitask on a table) becomes classes: its distinct values,
numbers or strings, sorted (numerically when all are numbers), with the names kept.

Read with the standard library's csv module and NumPy: no pandas dependency for a flat file.
"""

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .augment import AugmentOptions
from .build import DataOptions
from .memory import InMemoryDataModule, TensorBatches
from .splits import TEST_FRACTION
from .targets import (
    F32,
    as_numbers,
    infer_kind,
    output_statistics,
    random_split,
    regression_values,
    target_statistics,
)
from .tasks import TASK_KINDS, Task, parse_task_types, same


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if abs(value) <= F32 else None  # not NaN, inf, nor past float32 (1e39)


def read_csv(path: Path, prefix: str = "--dataset csv:") -> list[list[str]]:
    """The non-blank rows of a CSV file (header first): UTF-8 with or without a BOM, the delimiter
    sniffed among , ; and tab. The one reader of tables, for training and for predict.py."""
    if path.exists() and not path.is_file():  # a folder, or a pipe or device: reading it could block
        raise DataError(f"{prefix} {path}: not a regular file (expected a CSV file with a header row)")
    if not path.is_file():
        raise DataError(f"{prefix} {path}: no such file (expected a CSV file with a header row)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as e:
        raise DataError(f"{prefix} {path} is not a readable text file ({type(e).__name__})") from None
    if not text.strip():
        raise DataError(f"{prefix} {path} is empty")
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [r for r in csv.reader(text.splitlines(), dialect) if any(cell.strip() for cell in r)]
    except csv.Error as e:
        raise DataError(f"{prefix} {path} is not a CSV table ({e})") from None


def read_table(path: Path, targets: list[str], features: list[str], task_types: dict | None = None) -> dict:
    """Parse and check the file: features [N, F] float32, targets [N, T] and the names (assemble)."""
    return assemble(read_columns(path), targets, features, task_types or {}, f"--dataset csv: {path}")


def read_columns(path: Path, prefix: str = "--dataset csv:", flag: str = "--data-dir") -> dict[str, list[str]]:
    """The checked columns of a CSV file: {name: its cells as text}."""
    if not path.is_file():
        raise DataError(f"{prefix} {flag} {path}: no such file (expected a CSV file with a header row)")
    rows = read_csv(path, prefix)
    header = [h.strip() for h in rows[0]]
    if all(_number(h) is not None for h in header):
        raise DataError(
            f"{prefix} {path} has no header row (its first row is numbers: {','.join(header[:4])}…); "
            "add a row of column names"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated or "" in header:
        raise DataError(f"{prefix} {path}: column names must be distinct and not empty, got {duplicated or ['']}")
    body = rows[1:]
    if not body:
        raise DataError(f"{prefix} {path} has a header but no rows")
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise DataError(f"{prefix} {path} line {i} has {len(r)} fields, the header {len(header)}")
    return {h: [r[j].strip() for r in body] for j, h in enumerate(header)}


def assemble(columns: dict, targets: list[str], features: list[str], task_types: dict, source: str) -> dict:
    """The table from its columns (lists of strings, or NumPy arrays for an embedded table): features
    [N, F] float32, targets y [N, T] (class indices int64; float64 once a task is regression), the kind
    and class names of each task (regression tasks: no names)."""
    prefix = "--dataset csv:" if source.startswith("--dataset csv:") else f"--dataset {source}:"
    header = list(columns)
    for t in targets:
        if t not in columns:
            raise DataError(f"{source}: --target/--tasks {t!r} is not a column (columns: {', '.join(header)})")
    if features:
        for f in features:
            if f not in columns:
                raise DataError(f"{source}: --features {f!r} is not a column (columns: {', '.join(header)})")
            if f in targets:
                raise DataError(f"{prefix} --features {f!r} is also a target; a column is one or the other")
    else:
        features = [h for h in header if h not in targets and _all_numbers(columns[h])]
        if not features:
            raise DataError(
                f"{source} has no numeric column besides {', '.join(targets)}; name the inputs with --features"
            )
    n = len(columns[header[0]])
    x = np.empty((n, len(features)), dtype=np.float32)
    for j, f in enumerate(features):
        numbers = as_numbers(columns[f])
        if numbers is None or not (np.abs(numbers) <= F32).all():
            i = next(i for i, v in enumerate(columns[f]) if _number(str(v)) is None)
            raise DataError(
                f"{prefix} feature column {f!r} holds text, a missing or a float32-infinite value ({columns[f][i]!r} "
                f"on line {i + 2}); features must be numbers (a text column can be a --target)"
            )
        x[:, j] = numbers
    kinds = [task_types.get(t) or infer_kind(columns[t]) for t in targets]
    labels, class_names = [], []
    for t, kind in zip(targets, kinds):
        if TASK_KINDS[kind].numeric:
            labels.append(regression_values(t, columns[t], prefix))
            class_names.append([])
            continue
        values = [str(v) for v in columns[t]]
        if any(v == "" for v in values):
            raise DataError(f"{prefix} target column {t!r} has an empty cell (line {values.index('') + 2})")
        distinct = set(values)
        numeric = all(_number(v) is not None for v in distinct)
        names = sorted(distinct, key=lambda v: (float(v), v) if numeric else v)
        if len(names) < 2:
            raise DataError(f"{prefix} target column {t!r} has a single value ({names[0]!r}); nothing to learn")
        index = {v: k for k, v in enumerate(names)}
        labels.append([index[v] for v in values])
        class_names.append(names)
    dtype = np.float64 if any(TASK_KINDS[k].numeric for k in kinds) else np.int64
    y = np.array(labels, dtype=dtype).T
    return {"x": x, "y": y, "features": features, "class_names": class_names, "kinds": kinds}


def _all_numbers(values) -> bool:
    numbers = as_numbers(values)
    return numbers is not None and bool(np.isfinite(numbers).all())  # 1e39 too: then refused naming its column


def split_rows(y: np.ndarray, kind: str, val_fraction: float, test_fraction: float, seed: int, target: str):
    """(train, val, test) row indices: stratified by the primary task's classes, or a seeded shuffle
    when it is a regression task."""
    if TASK_KINDS[kind].numeric:
        return random_split(len(y), val_fraction, test_fraction, seed)
    return stratified_split(y.astype(np.int64), val_fraction, test_fraction, seed, target)


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int, target: str):
    """Indices (train, val, test), each class of the primary target shared out in the same proportions
    (a seeded shuffle per class); every class keeps an example in training and in validation."""
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        if len(members) < 2:
            raise DataError(
                f"--dataset csv: class {c} of --target {target!r} has a single example; the validation "
                "split needs at least 2 per class (add rows or merge the class)"
            )
        n_val = max(1, round(val_fraction * len(members)))
        n_test = min(round(test_fraction * len(members)), len(members) - n_val - 1)
        parts[0].append(members[n_val + n_test :])
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val : n_val + n_test])
    splits = tuple(np.sort(np.concatenate(p)) for p in parts)
    for name, split in zip(("training", "validation", "test"), splits):
        if len(split) == 0 and (name != "test" or test_fraction):  # no rows: Lightning would test (or train) on nothing
            smallest = int(np.bincount(y).min())
            raise DataError(
                f"--dataset csv: the {name} split would be empty ({len(np.unique(y))} classes of --target "
                f"{target!r}, the smallest with {smallest} rows); add rows, merge classes or raise the fractions"
            )
    return splits


class TableDataModule(InMemoryDataModule):
    """The in-memory DataModule over a table: a CSV file (`--dataset csv`), or the columns a declared
    loader returns (the embedded tables of datasets.py); same batches, loaders and statistics
    interface, plus each task's kind and the regression targets' training statistics."""

    def __init__(self, spec, o: DataOptions, augment: AugmentOptions | None = None, test_fraction=TEST_FRACTION):
        super().__init__(spec, o, None, test_fraction)  # nothing to augment in a table
        self.feature_names = list(o.features or [])  # resolved at setup (default: every other numeric column)
        self.target_names = list(o.tasks or [])
        self.task_types = list(o.task_types or [])
        self.feature_shape, self.test_data = list(o.feature_shape or []), o.test_data
        self.sequence_augment = {"shift": o.seq_shift, "scale": o.seq_scale, "jitter": o.seq_jitter}

    def prepare_data(self) -> None:
        pass  # a local file or an embedded table: nothing to download or decode ahead

    def read(self) -> dict:
        """The checked table: the declared loader's columns ({name: array}), else the CSV file."""
        types = parse_task_types(self.task_types, self.target_names)
        declared = {t.name: t.kind for t in self.spec.tasks}
        types = {**declared, **types}
        if self.spec.load is not None:
            if self.test_data:
                raise DataError(f"--test-data: {self.spec.name} is embedded (no file); a test file is for csv")
            return assemble(self.spec.load(), self.target_names, self.feature_names, types, self.spec.name)
        if not self.test_data:
            return read_table(self.root, self.target_names, self.feature_names, types)
        train, test = read_columns(self.root), read_columns(Path(self.test_data), "--test-data:", "file")
        if set(test) != set(train):
            raise DataError(f"--test-data {self.test_data}: its columns differ from --data-dir {self.root}'s")
        columns = {h: list(train[h]) + list(test[h]) for h in train}  # one table: the same class names
        table = assemble(columns, self.target_names, self.feature_names, types, f"--dataset csv: {self.root}")
        return {**table, "test_rows": len(next(iter(test.values())))}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        try:
            table = self.read()
        except ValueError as e:  # --task-types given to a DataModule built by hand
            raise DataError(str(e)) from None
        self.feature_names, self.class_names, self.kinds = table["features"], table["class_names"], table["kinds"]
        x, y, given = table["x"], table["y"], table.get("test_rows", 0)  # a --test-data file's rows come last
        n = len(x) - given
        fraction = 0.0 if given else self.test_fraction
        train, val, test = split_rows(
            y[:n, 0], self.kinds[0], self.val_fraction, fraction, self.split_seed, self.target_names[0]
        )
        test = np.arange(n, len(x)) if given else test  # the given test set as it is
        shape = self.check_shape(len(self.feature_names))
        self.tasks = tuple(
            Task(t, len(names) or 1, same, f"column {t}", kind=kind)  # a number (no class names): one output
            for t, names, kind in zip(self.target_names, self.class_names, self.kinds)
        )
        features = torch.from_numpy(x).view(len(x), *shape)  # [N, F, 1, 1] (a channel per column), or declared
        labels = torch.from_numpy(y.astype(np.float32) if y.dtype == np.float64 else y)
        self.train_set, self.val_set, self.test_set = (
            TensorBatches(features[i], labels[i]) for i in (torch.from_numpy(s) for s in (train, val, test))
        )
        # The training split's per-channel mean and (population) std: the network standardizes with them.
        channels = x[train].astype(np.float64).reshape(len(train), shape[0], -1)  # [N, C, steps or pixels]
        mean, std = channels.mean(axis=(0, 2)), channels.std(axis=(0, 2))
        self.mean = mean.tolist()
        self.std = np.where(std > 0, std, 1.0).tolist()  # a constant column stays 0 after centring
        # The same for the regression targets (training split only): the heads learn (y − μ) / σ.
        self.target_mean, self.target_std = target_statistics(y[train], self.kinds)
        if any(self.sequence_augment.values()):
            self.augment = SequenceAugment(self.mean, self.std, **self.sequence_augment)

    def check_shape(self, features: int) -> list[int]:
        """The declared --input-shape (a sequence C,L or an image C,H,W) of the F feature columns, else [F, 1, 1]."""
        shape, on = self.feature_shape, [k for k, v in self.sequence_augment.items() if v]
        if on and len(shape) != 2:
            raise DataError(f"--seq-{on[0]} is for sequences: declare the feature columns' --input-shape C,L")
        if not shape:
            return [features, 1, 1]
        given = ",".join(map(str, shape))
        if len(shape) not in (2, 3):
            raise DataError(f"--input-shape {given}: expected C,L (a sequence) or C,H,W (an image)")
        if math.prod(shape) != features:
            raise DataError(f"--input-shape {given} holds {math.prod(shape)} values, the table {features} features")
        return shape

    def label_frequencies(self) -> list[list[float]]:
        """Per task, what the output-bias prior matches on the training split: class frequencies, or a
        regression task's standardized mean."""
        y = self.train_set.y.numpy()
        return output_statistics(y, self.kinds, [t.num_classes for t in self.tasks], self.target_mean, self.target_std)


class SequenceAugment(torch.nn.Module):
    """Augmentation of sequences x [B, C, L] (raw values), a fresh draw per example, each off at 0 (the checklist's
    "translating, scaling"): `shift` f: x'[t] = x[(t − k) mod L], k uniform in ±round(f·L); `scale` s:
    x' = μ + a(x − μ), a ~ U[1−s, 1+s], μ the channel's training mean; `jitter` j: x' = x + j·σ·N(0, 1), σ the
    channel's training std."""

    def __init__(self, mean, std, shift: float = 0.0, scale: float = 0.0, jitter: float = 0.0):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1))
        self.shift, self.scale, self.jitter = shift, scale, jitter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (b, c, steps), device = x.shape, x.device
        mean, std = self.mean.to(device), self.std.to(device)
        if self.shift and (most := round(self.shift * steps)):
            k = torch.randint(-most, most + 1, (b, 1), device=device)
            index = (torch.arange(steps, device=device) - k) % steps  # [B, L]
            x = x.gather(2, index.unsqueeze(1).expand(b, c, steps))
        if self.scale:
            a = (torch.rand(b, 1, 1, device=device) * 2 - 1) * self.scale + 1
            x = mean + a * (x - mean)
        if self.jitter:
            x = x + self.jitter * std * torch.randn_like(x)
        return x
