"""What the commands build from the parsed flags (through views, config/views.py): the DataModule, the
module, the Trainer and a training run's plan."""

import argparse
from pathlib import Path

from ..config.parser import config_dict
from ..config.views import view


def build_datamodule(a: argparse.Namespace):
    """The DataModule of the flags, set up for fitting."""
    import torch

    from ..data.augment import AugmentOptions
    from ..data.build import DataOptions, create_datamodule
    from ..datasets import DATASETS

    pin_memory = torch.cuda.is_available() and a.accelerator in ("auto", "gpu")
    return create_datamodule(DATASETS[a.dataset], view(DataOptions, a, pin_memory=pin_memory), view(AugmentOptions, a))


def resolved_config(a: argparse.Namespace, dm) -> dict:
    """Every flag's value as this run uses it{% if cookiecutter.tables %}: the data resolves a table's feature columns{% endif %}."""
{%- if cookiecutter.tables %}
    config = config_dict(a)
    if getattr(dm, "feature_names", None):
        config["features"] = list(dm.feature_names)  # default: every other numeric column; saved, predicted on
    return config
{%- else %}
    return config_dict(a)
{%- endif %}


def build_module(a: argparse.Namespace, dm):
    from ..training.build import build_module as build

    return build(resolved_config(a, dm), dm)


def trainer_view(a: argparse.Namespace):
    from ..training.trainer import TrainerOptions

    return view(TrainerOptions, a)


def build_trainer(a: argparse.Namespace, run_dir: Path, loggers: list):
    from ..training.trainer import build_trainer as build

    return build(trainer_view(a), run_dir, loggers)


def make_plan(a: argparse.Namespace, config: dict):
    from ..config.reach import flag_reach
    from ..training.fit import Plan
    from ..training.rundir import choose_run_directory, default_run_name

    applies, _ = flag_reach(a.model{% if cookiecutter.backbones %}, a.pretrained{% endif %})
    shape = {f: getattr(a, f) for f in ("depth", "width") if f in applies}
    default = default_run_name(a.dataset, a.model, shape, a.optimizer, a.lr, a.batch_size)
    run_dir = choose_run_directory(a.output_dir, a.run_name, default)
    return Plan(run_dir, config, a.resume_ckpt, a.resume_state["step"] if a.resume_state else None)
