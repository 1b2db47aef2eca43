"""Typed views of the parsed flags: each consumer below commands/ declares, as a frozen dataclass,
the flags it reads (field names are flag names), and commands/ hands it `view(ThatClass, args)`. No
module below commands/ receives the whole namespace, and nothing is written back into it: what is
resolved on the way (run directory, feature columns, suggested ε0) goes into the run's plan."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import TypeVar

T = TypeVar("T")


def view(cls: type[T], args: argparse.Namespace, **resolved) -> T:
    """`cls` filled from `args` by field name; `resolved` overrides (values resolved after parsing). A
    field whose flag this project does not have (a feature not baked in) keeps its default."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in resolved and hasattr(args, f.name)}
    return cls(**values, **resolved)
