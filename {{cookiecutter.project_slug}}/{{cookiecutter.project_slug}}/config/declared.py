"""What the registries declare, read from their source files without importing them (they import
torch; the command line must answer `--help` and bad input in well under a second without it).

Two forms are read: a decorator with a string literal as first argument on a module-level function
(`@register_model("mlp", width=256)`, `@register_optimizer("sgd")`), giving the name, the function's
keyword parameters and the decorator's constant keywords; and the string keys of a module-level dict
literal (`ACTIVATIONS = {"relu": ..., ...}`). Entries registered from code that is already imported
count too (the registry's module, when imported, is the truth). Hand-written: no library reads
declarations without executing them. tests/config/test_declared.py holds each reading against the
imported registry.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Declared:
    """A registered function as declared: its keyword parameters (None: it takes **kwargs, so all)."""

    name: str
    function: str
    keywords: tuple[str, ...] | None
    defaults: dict = field(default_factory=dict)  # the decorator's keyword values, e.g. width=32


@cache
def _tree(relative: str) -> ast.Module:
    path = PACKAGE / relative
    return ast.parse(path.read_text(), str(path))


def decorated(relative: str, decorator: str) -> dict[str, Declared]:
    """name → Declared for every `@decorator("name", ...)` function in the package file `relative`."""
    found = {}
    for node in _tree(relative).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (
                isinstance(deco, ast.Call)
                and getattr(deco.func, "id", None) == decorator
                and deco.args
                and isinstance(deco.args[0], ast.Constant)
            ):
                continue
            args = node.args
            keywords = None if args.kwarg else tuple(a.arg for a in args.args[1:] + args.kwonlyargs)
            defaults = {k.arg: k.value.value for k in deco.keywords if isinstance(k.value, ast.Constant)}
            found[deco.args[0].value] = Declared(deco.args[0].value, node.name, keywords, defaults)
    return found


def dict_keys(relative: str, name: str) -> tuple[str, ...]:
    """The string keys of the module-level dict literal `name` in the package file `relative`, then
    those added below it by `name["key"] = ...` (an entry of your own appended to the file)."""
    keys: list[str] = []
    found = False
    for node in _tree(relative).body:
        if isinstance(node, ast.AnnAssign):
            target = node.target
        else:
            target = node.targets[0] if isinstance(node, ast.Assign) else None
        if getattr(target, "id", None) == name and isinstance(node.value, ast.Dict):
            keys += [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
            found = True
        elif (
            isinstance(target, ast.Subscript)
            and getattr(target.value, "id", None) == name
            and isinstance(target.slice, ast.Constant)
        ):
            keys.append(target.slice.value)
    if not found:
        raise LookupError(f"{relative} declares no dict {name}")
    return tuple(dict.fromkeys(keys))


def imported(module: str) -> object | None:
    """The package module `module` (e.g. "networks") if something already imported it, else None."""
    return sys.modules.get(f"{PACKAGE.name}.{module}")
