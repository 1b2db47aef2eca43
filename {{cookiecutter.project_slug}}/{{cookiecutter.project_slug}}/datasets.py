"""Every dataset, declared once: `--dataset` choices, `--tasks`, the cache, the tests and the README follow.
A declaration is a loader `load(root, download, image_size)` → (train, test), each a pair (images [N, C, H, W]
uint8 or float in [0, 1], class labels [N] int64; test None: a seeded share is held out), under `@dataset(...)`.
No torch at import: the command line reads this file. Add yours at the end (README: "Add your own dataset").
{%- if cookiecutter.tables %} A table
(kind="table", datamodule="tables:TableDataModule") declared with a loader is embedded: `load()` takes
no argument and returns its columns, {name: NumPy array} (features as numbers, a classification
target as text or numbers; each task's kind is its Task's `kind`), as breast-cancer, wine and diabetes do.
{%- endif %}"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .data.tasks import Task, same


@dataclass(frozen=True)
class Dataset:
    """One `--dataset` choice. `kind`: images (decoded into memory){% if cookiecutter.tables %}, table (a CSV file){% endif %}{% if cookiecutter.streaming %}, streaming (LitData shards){% endif %} or
    yours; `datamodule`: the DataModule that serves it, "<module under data/>:<class>" (a name: no torch here)."""

    name: str
    load: Callable | None
    tasks: tuple[Task, ...]  # the first is the default primary task; empty: decided by the data
    files: str | None  # folder under --data-dir with the files ("" = --data-dir itself; None = no files)
    where: str = ""  # where the files go, for error messages ({root} is replaced by --data-dir)
    source: str = ""  # where a user gets them
    help: str = ""
    kind: str = "images"
    sample: Callable[[Path], None] | None = None  # writes a tiny copy of the files in their real format (tests)
    download: bool = False  # its loader fetches the files when given --download (torchvision's); else it is ignored
    classes: tuple[str, ...] = ()  # the names of the label's classes, for predictions (default: "0", "1", …)
    datamodule: str = "memory:InMemoryDataModule"

    def __post_init__(self):
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "where", self.where or "{root}/" + str(self.files) + "/")
        object.__setattr__(self, "help", self.help or self.name)

    def tasks_named(self, names: list[str]) -> tuple[Task, ...]:
        """The declared tasks by name; datasets whose tasks come from the data (none declared) check them later."""
        by_name = {t.name: t for t in self.tasks}
        if not by_name:
            return ()
        if unknown := [n for n in names if n not in by_name]:
            raise ValueError(f"--tasks: {self.name} has no task {unknown[0]!r} (choose from {', '.join(by_name)})")
        return tuple(by_name[n] for n in names)


DATASETS: dict[str, Dataset] = {}


def dataset(name: str, **declaration):
    """Decorator: register `load` as `--dataset NAME`; the keywords are Dataset's fields."""

    def register(load: Callable | None) -> Callable | None:
        DATASETS[name] = Dataset(name, load, **declaration)
        return load

    return register


def default_tasks(name: str{% if cookiecutter.tables %}, target: str | None = None{% endif %}) -> list[str]:
    """The task a run predicts when `--tasks` is not given."""
{%- if cookiecutter.tables %}
    if DATASETS[name].kind == "table" and not DATASETS[name].tasks:
        return [target] if target else []
{%- endif %}
    return [t.name for t in DATASETS[name].tasks[:1]]


def tasks_for(dataset: str, names: list[str]) -> tuple[Task, ...]:
    return DATASETS[dataset].tasks_named(names)


def parity(y):
    return y % 2


def among(classes: tuple[int, ...], y):
    """A binary task's labels: 1 where the class label is one of `classes`, else 0."""
    return sum((y == c).long() for c in classes)


def from_loaders(function: str, *args):
    """Call `function` of data/loaders.py, imported only now: it imports torch."""
    from .data import loaders

    return getattr(loaders, function)(*args)


DIGITS = tuple(str(d) for d in range(10))
DIGIT_TASKS = (
    Task("digit", 10, same, "which digit (10 classes)"),
    Task("parity", 2, parity, "odd (1) or even (0)", ("even", "odd")),
    Task("zero", 2, partial(among, (0,)), "is it a 0: the imbalanced binary case (about 10% positives)", ("no", "yes")),
)

dataset(
    "digits",
    classes=DIGITS,
    tasks=DIGIT_TASKS,
    files=None,
    where="inside scikit-learn",
    source="scikit-learn",
    help="scikit-learn's 8×8 handwritten digits (1,797 images), embedded, no network needed",
)(partial(from_loaders, "load_digits"))

dataset(
    "mnist",
    classes=DIGITS,
    tasks=DIGIT_TASKS,
    files="MNIST",
    where="{root}/MNIST/raw/ (the four idx files)",
    source="http://yann.lecun.com/exdb/mnist/",
    download=True,
    help="torchvision's MNIST (needs --download once)",
)(partial(from_loaders, "load_torchvision", "mnist"))

dataset(
    "fashion-mnist",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    tasks=(
        Task("item", 10, same, "which article of clothing (10 classes)"),
        Task("footwear", 2, partial(among, (5, 7, 9)), "sandal, sneaker or ankle boot (30%)", ("no", "yes")),
    ),
    files="FashionMNIST",
    where="{root}/FashionMNIST/raw/ (the four idx files)",
    source="https://github.com/zalandoresearch/fashion-mnist",
    download=True,
    help="torchvision's Fashion-MNIST (needs --download once)",
)(partial(from_loaders, "load_torchvision", "fashion-mnist"))

dataset(
    "cifar10",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    tasks=(
        Task("class", 10, same, "which of the 10 classes"),
        Task("vehicle", 2, partial(among, (0, 1, 8, 9)), "airplane, automobile, ship or truck", ("animal", "vehicle")),
    ),
    files="cifar-10-batches-py",
    where="{root}/cifar-10-batches-py/ (data_batch_1…5, test_batch, batches.meta)",
    source="https://www.cs.toronto.edu/~kriz/cifar.html",
    download=True,
    help="torchvision's CIFAR-10 (needs --download once)",
)(partial(from_loaders, "load_torchvision", "cifar10"))

dataset(
    "image-folder",
    tasks=(Task("class", 0, same, "which class folder"),),  # 0 classes: as many as the folder has class folders
    files="",
    where="{root}/<class name>/<image files>",
    source="your own images, one folder per class",
    help="your own images, one folder per class under --data-dir (or train/ and test/ of those)",
)(partial(from_loaders, "load_image_folder"))
DATASET_CLASSES = {n: d.classes for n, d in DATASETS.items() if d.classes}  # the built-ins' label class names
{%- if cookiecutter.tables %}


dataset(
    "csv",
    tasks=(),
    files="",
    kind="table",
    datamodule="tables:TableDataModule",
    where="{root} (a CSV file with a header row)",
    source="your own table",
    help="a CSV table: --data-dir FILE.csv --target COLUMN (--features a,b,c; default every other numeric column)",
)(None)


def _embedded_table(name: str, target: Task, rows: str, what: str) -> None:
    """Declare one of scikit-learn's bundled tables as `--dataset NAME` (no file, no network)."""

    def load():
        from .data.loaders import load_sklearn_table

        return load_sklearn_table(name)

    dataset(
        name,
        tasks=(target,),
        files=None,
        kind="table",
        datamodule="tables:TableDataModule",
        where="inside scikit-learn",
        source="scikit-learn",
        help=f"{what} ({rows} rows), embedded, no network needed",
    )(load)


_embedded_table(
    "breast-cancer",
    Task("diagnosis", 2, same, "benign or malignant (37% malignant)", ("benign", "malignant")),
    "569",
    "Wisconsin breast-cancer diagnosis from 30 cell measurements: binary",
)
_embedded_table(
    "wine",
    Task("cultivar", 3, same, "which of 3 cultivars", ("class_0", "class_1", "class_2")),
    "178",
    "wine cultivar from 13 chemical measurements: 3 classes",
)
_embedded_table(
    "diabetes",
    Task("progression", 1, same, "disease progression one year after baseline", kind="regression"),
    "442",
    "diabetes progression from age, sex, bmi, bp and 6 blood serum values: regression",
)
{%- endif %}
{%- if cookiecutter.streaming %}


dataset(
    "streaming",
    tasks=(),
    files="",
    kind="streaming",
    datamodule="streaming:StreamingDataModule",
    where="{root} (the output of python -m {{cookiecutter.project_slug}}.prepare)",
    source="python -m {{cookiecutter.project_slug}}.prepare",
    help="LitData shards written by `python -m {{cookiecutter.project_slug}}.prepare`, from a folder or an "
    "s3:// URL, streamed without loading the data into memory (pip install -e '.[streaming]')",
)(None)
{%- endif %}


# Add yours below: see "Add your own dataset" in README.md.
