"""Building the data: the flags a DataModule reads (DataOptions, with AugmentOptions) and the lookup of the DataModule
that the dataset's declaration names (datasets.py: `datamodule="module:Class"`). A new kind of dataset is a DataModule
class built as `Class(spec, options, augment)` and a declaration that names it."""

import importlib
from dataclasses import dataclass

from .augment import AugmentOptions


@dataclass(frozen=True)
class DataOptions:  # the data flags (field names are flag names) and what the run resolved: pin_memory
    dataset: str
    data_dir: str
    tasks: list
    batch_size: int
    num_workers: int
    val_fraction: float
    seed: int
    split_seed: int
    download: bool
    image_size: int
    pin_memory: bool
{%- if cookiecutter.tables %}
    task_types: list
    features: list
    feature_shape: list
    test_data: str | None
    seq_shift: float
    seq_scale: float
    seq_jitter: float
{%- endif %}


def datamodule_class(spec) -> type:
    """The DataModule class that serves a dataset, as its declaration (datasets.py) names it."""
    module, _, cls = spec.datamodule.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)


def create_datamodule(spec, options: DataOptions, augment: AugmentOptions):
    """The DataModule of the dataset declared by `spec`, set up for fitting (downloaded, decoded, split)."""
    dm = datamodule_class(spec)(spec, options, augment)
    dm.prepare_data()
    dm.setup("fit")
    return dm
