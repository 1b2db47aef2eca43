"""Every dataset, declared once: `--dataset` choices, `--tasks`, the cache, the tests and the README follow.

A declaration is a loader function decorated with `@dataset(...)`: its tasks (what to predict), the
folder under `--data-dir` that holds its files (the cache is rebuilt when a file there changes) and
where a user gets them. Add your own at the end of this file (the README shows a worked example).

This module imports no torch (the command line reads it to check `--dataset` and `--tasks` at
once); loaders import torch inside. A loader is `load(root, download, image_size)` and returns
`(train, test)`: each a pair (images [N, C, H, W] uint8 or float in [0, 1], class labels [N] int64),
test None when the dataset has no official test split (a seeded share is then held out).
{%- if cookiecutter.tables %} A table
(kind="table", datamodule="tables:TableDataModule") declared with a loader is embedded: `load()` takes
no argument and returns its columns, {name: NumPy array} (features as numbers, a classification
target as text or numbers; each task's kind is its Task's `kind`), as breast-cancer, wine and diabetes do.
{%- endif %}
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data.tasks import CIFAR_TASKS, DATASET_CLASSES, DIGIT_TASKS, FASHION_TASKS, FOLDER_TASKS, Task, parity, same  # noqa: F401

# ----------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Dataset:
    """One `--dataset` choice. `kind`: images (decoded into memory){% if cookiecutter.tables %}, table (a CSV file){% endif %}{% if cookiecutter.streaming %}, streaming (LitData shards){% endif %}
    or a kind of yours; `datamodule`: the DataModule that serves it, "<module under data/>:<class>"
    (a name, so that this file imports no torch)."""

    name: str
    load: Callable | None
    tasks: tuple[Task, ...]  # the first is the default primary task; empty: decided by the data
    files: str | None  # folder under --data-dir with the files ("" = --data-dir itself; None = no files)
    where: str = ""  # where the files go, for error messages ({root} is replaced by --data-dir)
    source: str = ""  # where a user gets them
    help: str = ""
    kind: str = "images"
    sample: Callable[[Path], None] | None = None  # writes a tiny copy of the files in their real format (tests)
    classes: tuple[str, ...] = ()  # the names of the label's classes, for predictions (default: "0", "1", …)
    datamodule: str = "memory:InMemoryDataModule"

    def __post_init__(self):
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "where", self.where or "{root}/" + str(self.files) + "/")
        object.__setattr__(self, "help", self.help or self.name)

    def folder(self, root: Path) -> Path | None:
        """The folder whose files make the cache signature (None: nothing to cache)."""
        return None if self.files is None else (root / self.files if self.files else root)

    def where_in(self, root: Path) -> str:
        return self.where.replace("{root}", str(root))

    def tasks_named(self, names: list[str]) -> tuple[Task, ...]:
        """The declared tasks by name; datasets whose tasks come from the data check them later."""
        if not self.tasks:
            return ()
        by_name = {t.name: t for t in self.tasks}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(
                f"--tasks: dataset {self.name} has no task {unknown[0]!r} (choose from {', '.join(by_name)})"
            )
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
    tasks = DATASETS[name].tasks
    return [tasks[0].name] if tasks else []


def tasks_for(dataset: str, names: list[str]) -> tuple[Task, ...]:
    """The declared tasks of `dataset` by name (Dataset.tasks_named)."""
    return DATASETS[dataset].tasks_named(names)


# ----------------------------------------------------------------------------- built-in datasets


@dataset(
    "digits",
    classes=DATASET_CLASSES["digits"],
    tasks=DIGIT_TASKS,
    files=None,
    where="inside scikit-learn",
    source="scikit-learn",
    help="scikit-learn's 8×8 handwritten digits (1,797 images), embedded, no network needed",
)
def digits(root, download, image_size):
    from .data.loaders import load_digits

    return load_digits(root, download, image_size)


@dataset(
    "mnist",
    classes=DATASET_CLASSES["mnist"],
    tasks=DIGIT_TASKS,
    files="MNIST",
    where="{root}/MNIST/raw/ (the four idx files)",
    source="http://yann.lecun.com/exdb/mnist/",
    help="torchvision's MNIST (needs --download once)",
)
def mnist(root, download, image_size):
    from .data.loaders import load_torchvision

    return load_torchvision("mnist", root, download)


@dataset(
    "fashion-mnist",
    classes=DATASET_CLASSES["fashion-mnist"],
    tasks=FASHION_TASKS,
    files="FashionMNIST",
    where="{root}/FashionMNIST/raw/ (the four idx files)",
    source="https://github.com/zalandoresearch/fashion-mnist",
    help="torchvision's Fashion-MNIST (needs --download once)",
)
def fashion_mnist(root, download, image_size):
    from .data.loaders import load_torchvision

    return load_torchvision("fashion-mnist", root, download)


@dataset(
    "cifar10",
    classes=DATASET_CLASSES["cifar10"],
    tasks=CIFAR_TASKS,
    files="cifar-10-batches-py",
    where="{root}/cifar-10-batches-py/ (data_batch_1…5, test_batch, batches.meta)",
    source="https://www.cs.toronto.edu/~kriz/cifar.html",
    help="torchvision's CIFAR-10 (needs --download once)",
)
def cifar10(root, download, image_size):
    from .data.loaders import load_torchvision

    return load_torchvision("cifar10", root, download)


@dataset(
    "image-folder",
    tasks=FOLDER_TASKS,
    files="",
    where="{root}/<class name>/<image files>",
    source="your own images, one folder per class",
    help="your own images, one folder per class under --data-dir (or train/ and test/ of those)",
)
def image_folder(root, download, image_size):
    from .data.loaders import load_image_folder

    return load_image_folder(root, download, image_size)
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


# ----------------------------------------------------------------------------- your datasets
# Add yours below: see "Add your own dataset" in README.md.
