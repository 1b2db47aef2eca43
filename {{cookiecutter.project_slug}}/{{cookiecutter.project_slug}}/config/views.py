"""Typed views of the flags: each consumer below commands/ declares, as a frozen dataclass, the flags it reads (field
names are flag names; no defaults: flags.py holds each flag's, once), and is handed `view(ThatClass, args)`. No module
below commands/ receives the whole namespace, and nothing is written back into it: what is resolved on the way (run
directory, feature columns, suggested ε0) goes into the run's plan, whose config its views read."""

import argparse
from collections.abc import Mapping
from dataclasses import fields
from typing import TypeVar

T = TypeVar("T")


def view(cls: type[T], flags: argparse.Namespace | Mapping, **resolved) -> T:
    """`cls` filled from `flags` (namespace or config mapping) by field name; `resolved` overrides (resolved later).
    A field with no value is an error: a view names only flags each bake with its consumer has (features bake out)."""
    values = {**(flags if isinstance(flags, Mapping) else vars(flags)), **resolved}
    if missing := [f.name for f in fields(cls) if f.name not in values]:
        raise AttributeError(f"{cls.__name__} reads {', '.join(missing)}, which these flags do not hold")
    return cls(**{f.name: values[f.name] for f in fields(cls)})
